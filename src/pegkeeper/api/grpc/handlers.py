"""What both gRPC services share: requests that cannot be parsed, and errors as status codes.

Handlers are built here rather than from the generated `add_*Servicer_to_server`, so that bytes
that are no valid message reach the handler as `Malformed` and get INVALID_ARGUMENT instead of
the framework's generic failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
import structlog

from pegkeeper.domain.errors import ConflictError, InvalidInput
from pegkeeper.domain.quotes import QuoteNotFound
from pegkeeper.services.market.pricer import BookUnavailable

log = structlog.get_logger("pegkeeper.grpc")

Request = TypeVar("Request")
Context = grpc.aio.ServicerContext[Any, Any]
Behaviour = Callable[[Any, Context], Awaitable[Any]]


class Malformed:
    """A request whose bytes are not a valid message."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def tolerant(parse: Callable[[bytes], Request]) -> Callable[[bytes], Request | Malformed]:
    def deserialize(data: bytes) -> Request | Malformed:
        try:
            return parse(data)
        except Exception as error:  # DecodeError, or anything the parser may raise on junk
            return Malformed(f"{type(error).__name__}: {error}")

    return deserialize


def unary(
    behaviour: Behaviour, request_type: Any, response_type: Any
) -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=tolerant(request_type.FromString),
        response_serializer=response_type.SerializeToString,
    )


async def reject_malformed(request: Malformed, context: Context) -> NoReturn:
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid message ({request.reason})"
    )


async def abort_for(error: Exception, context: Context) -> NoReturn:
    """End the call with the status that says what went wrong; never INTERNAL."""
    code, message = status_of(error)
    if code is grpc.StatusCode.UNAVAILABLE and not isinstance(error, BookUnavailable):
        log.error("grpc call failed", error_type=type(error).__name__, exc_info=error)
    await context.abort(code, message)


def status_of(error: Exception) -> tuple[grpc.StatusCode, str]:
    if isinstance(error, InvalidInput):
        return grpc.StatusCode.INVALID_ARGUMENT, str(error)
    if isinstance(error, BookUnavailable):
        return grpc.StatusCode.UNAVAILABLE, str(error)
    if isinstance(error, QuoteNotFound):
        return grpc.StatusCode.NOT_FOUND, str(error)
    if isinstance(error, ConflictError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(error)
    # A failure of the store or a bug: each write is one transaction, so nothing is half done.
    return (
        grpc.StatusCode.UNAVAILABLE,
        f"temporarily unavailable ({type(error).__name__}); the call can be retried",
    )

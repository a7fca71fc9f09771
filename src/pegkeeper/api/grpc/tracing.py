"""A server span per gRPC call, continuing the caller's trace (`traceparent` metadata).

Installed only when tracing is on (bootstrap/pricing.py). Only unary calls of pegkeeper's
services are traced: the health checks and reflection would bury the calls worth reading.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode

from pegkeeper.api.grpc.pb import PRICE_SERVICE, QUOTE_SERVICE
from pegkeeper.services.tracing import tracer

_TRACED_SERVICES = (f"/{PRICE_SERVICE}/", f"/{QUOTE_SERVICE}/")
_PROPAGATED = frozenset({"traceparent", "tracestate", "baggage"})


class TracingInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(  # type: ignore[override]
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if (
            handler is None
            or handler.unary_unary is None
            or not method.startswith(_TRACED_SERVICES)
        ):
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _traced(handler.unary_unary, method, handler_call_details.invocation_metadata),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _traced(behaviour: Any, method: str, metadata: Any) -> Any:
    service, rpc = method.lstrip("/").rsplit("/", 1)
    attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc}

    async def traced(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        with tracer().start_as_current_span(
            f"{service}/{rpc}",
            context=propagate.extract(_carrier(metadata)),
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            try:
                return await behaviour(request, context)
            finally:
                # An abort raises: the code is read from the context in either case.
                code = context.code() or grpc.StatusCode.OK
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code != grpc.StatusCode.OK:
                    span.set_status(Status(StatusCode.ERROR, code.name))

    return traced


def _carrier(metadata: Any) -> dict[str, str]:
    return {k: v for k, v in metadata or () if k in _PROPAGATED and isinstance(v, str)}

"""Times every price and quote rpc for the quote latency histogram."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from pegkeeper.api.grpc.pb import PRICE_SERVICE, QUOTE_SERVICE

Observe = Callable[[str, float], None]  # (rpc name, seconds)
_TIMED_SERVICES = (f"/{PRICE_SERVICE}/", f"/{QUOTE_SERVICE}/")


class LatencyInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, observe: Observe) -> None:
        self._observe = observe

    async def intercept_service(  # type: ignore[override]
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or not method.startswith(_TIMED_SERVICES):
            return handler
        behaviour = handler.unary_unary
        rpc = method.rsplit("/", 1)[-1]
        observe = self._observe

        async def timed(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            try:
                return await behaviour(request, context)
            finally:
                observe(rpc, time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            timed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

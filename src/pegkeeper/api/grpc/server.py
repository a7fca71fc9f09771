"""The gRPC price server and quote server on grpcio's asyncio server, with the standard health
service (NOT_SERVING while there is no fresh book) and server reflection on each port."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from pegkeeper.api.grpc.pb import PRICE_SERVICE, QUOTE_SERVICE
from pegkeeper.api.grpc.price_servicer import price_handlers
from pegkeeper.api.grpc.quote_servicer import quote_handlers
from pegkeeper.services.market.pricer import BookStatus, Pricer
from pegkeeper.services.market.wallet_quotes import QuoteService

log = structlog.get_logger("pegkeeper.grpc")

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ServerStartError(RuntimeError):
    """A port could not be bound; names the address and the setting."""


@dataclass(frozen=True, slots=True)
class GrpcServerSettings:
    host: str = "127.0.0.1"
    price_port: int = 3325  # 0: any free port
    quote_port: int = 3326
    health_interval_seconds: float = 0.5
    # SO_REUSEPORT: several processes listen on the same ports and the kernel spreads new
    # connections among them (replicas behind one address). Off, a port already taken is an
    # error at start instead of a silent share with whatever holds it.
    reuse_port: bool = False


@dataclass(slots=True)
class _Served:
    service: str
    server: grpc.aio.Server
    health: Any  # grpc_health's asyncio HealthServicer
    port: int = 0


class PriceServers:
    def __init__(
        self,
        pricer: Pricer,
        quotes: QuoteService,
        settings: GrpcServerSettings | None = None,
        interceptors: tuple[grpc.aio.ServerInterceptor, ...] = (),
    ) -> None:
        self._interceptors = interceptors
        self._pricer = pricer
        self._quotes = quotes
        self._settings = settings or GrpcServerSettings()
        self._served: list[_Served] = []
        self._status: BookStatus | None = None

    @property
    def price_port(self) -> int:
        return self._served[0].port

    @property
    def quote_port(self) -> int:
        return self._served[1].port

    async def start(self) -> None:
        s = self._settings
        handlers = (price_handlers(self._pricer), quote_handlers(self._quotes))
        setting = ("price_server.price_port", "price_server.quote_port")
        ports = (s.price_port, s.quote_port)
        try:
            for service, methods, port, key in zip(
                (PRICE_SERVICE, QUOTE_SERVICE), handlers, ports, setting, strict=True
            ):
                self._served.append(self._server(service, methods, port, key))
            for served in self._served:
                await served.server.start()
            await self.refresh_health()
        except BaseException:
            await self.stop(0)
            raise
        log.info("grpc listening", price_port=self.price_port, quote_port=self.quote_port)

    async def run(self) -> None:
        """Serve until cancelled (started first, unless `start` was called), keeping the
        health status in step with the book."""
        if not self._served:
            await self.start()
        try:
            while True:
                await asyncio.sleep(self._settings.health_interval_seconds)
                await self.refresh_health()
        finally:
            await asyncio.shield(self.stop(1.0))

    async def stop(self, grace_seconds: float) -> None:
        served, self._served = self._served, []
        for item in served:
            await item.health.enter_graceful_shutdown()
        await asyncio.gather(*(item.server.stop(grace_seconds) for item in served))

    async def refresh_health(self) -> BookStatus:
        status = self._pricer.status()
        if status != self._status:
            self._log_change(status)
            self._status = status
            value = _SERVING if status.fresh else _NOT_SERVING
            for item in self._served:
                for name in ("", item.service):
                    await item.health.set(name, value)
        return status

    def _log_change(self, status: BookStatus) -> None:
        if status.fresh:
            log.info("grpc serving", book_source=self._pricer.source)
        else:
            log.warning("grpc not serving: no fresh book", reason=status.detail)

    def _server(
        self, service: str, methods: dict[str, grpc.RpcMethodHandler[Any, Any]], port: int, key: str
    ) -> _Served:
        # Always explicit: grpcio's own default on Linux is on (1).
        reuse = 1 if self._settings.reuse_port else 0
        server = grpc.aio.server(
            options=[("grpc.so_reuseport", reuse)], interceptors=self._interceptors
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, methods),))
        server.add_registered_method_handlers(service, methods)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (service, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        address = f"{self._settings.host}:{port}"
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as error:
            raise ServerStartError(f"cannot listen on {address} ({key}): {error}") from None
        if bound == 0:
            raise ServerStartError(f"cannot listen on {address} ({key})")
        return _Served(service, server, health_servicer, bound)

"""The OKX v5 simulator as an aiohttp server: REST under /api/v5, WebSockets under /ws/v5,
and its own controls under /sim/v1 (faults, what it received, deposits from outside); with a
simulated Bitcoin Core wallet that pays into it, that wallet's JSON-RPC under /bitcoind.

Every /api/v5 request goes through one path: latency (and an order's delay), signature check
(private endpoints), the faults that answer before processing (429, 50011, 5xx), an order
request's expTime (expiry.py), the handler, then the faults that answer after it (a hang past
the client's timeout, a 502).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from pegkeeper.sim.bitcoind_rpc import SimBitcoind
from pegkeeper.sim.okx_server import routes_account, routes_asset, routes_market, routes_trade
from pegkeeper.sim.okx_server.admin import admin_routes
from pegkeeper.sim.okx_server.auth import verify_rest
from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.envelope import OkxError, error_response, json_body, respond
from pegkeeper.sim.okx_server.expiry import check_exp_time
from pegkeeper.sim.okx_server.faults import Scope
from pegkeeper.sim.okx_server.routing import Route
from pegkeeper.sim.okx_server.ws import WsHub

ROUTES: dict[tuple[str, str], Route] = {
    (route.method, route.path): route
    for module in (routes_market, routes_account, routes_trade, routes_asset)
    for route in module.ROUTES
}
API_PREFIX = "/api/v5/"
BITCOIND_PREFIX = "/bitcoind"


class OkxSimServer:
    def __init__(
        self,
        ctx: SimContext,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        positions_push_seconds: float = 5.0,
        bitcoind: SimBitcoind | None = None,
    ) -> None:
        self.ctx = ctx
        self.bitcoind = bitcoind
        self.host = host
        self.port = port
        self.hub = WsHub(ctx, positions_push_seconds)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handles: set[asyncio.TimerHandle] = set()
        ctx.schedule = self._schedule

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def bitcoind_url(self) -> str:
        """The served wallet's node address ("" without one): its wallet at /wallet/<name>."""
        return "" if self.bitcoind is None else self.rest_url + BITCOIND_PREFIX

    @property
    def ws_url(self) -> str:
        """The WebSocket base: /public and /private follow it."""
        return f"ws://{self.host}:{self.port}/ws/v5"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", API_PREFIX + "{tail:.*}", self._api)
        app.router.add_get("/ws/v5/public", self._public_ws)
        app.router.add_get("/ws/v5/private", self._private_ws)
        app.router.add_get("/ws/v5/business", self._public_ws)
        admin_routes(app, self)
        if self.bitcoind is not None:
            self.bitcoind.add_routes(app, BITCOIND_PREFIX)
        self._runner = web.AppRunner(
            app, shutdown_timeout=0.5, handle_signals=False, access_log=None
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._spawn(self.hub.run_periodic())

    async def stop(self) -> None:
        for handle in self._handles:
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.hub.drop_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def prices_changed(self) -> None:
        """Call after setting prices in the engine: pushes to public WebSocket subscribers."""
        self.hub.prices_changed()

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix(API_PREFIX)
        self.ctx.rest_requests[f"{request.method} {path}"] += 1
        route = ROUTES.get((request.method, path))
        if route is None:
            return respond(
                [], code="50000", msg=f"{request.path} is not simulated", http_status=404
            )
        raw_body = await request.text()
        faults = self.ctx.faults
        delay_ms = faults.numbers["latency_ms"]
        if route.places_orders:
            delay_ms += faults.numbers["order_delay_ms"]
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        try:
            if route.private:
                verify_rest(
                    self.ctx.credentials,
                    request.headers,
                    request.method,
                    request.raw_path,
                    raw_body,
                )
            early = self._refusal(_scopes(request.method, route))
            if early is not None:
                return early
            params = dict(request.query) if request.method == "GET" else json_body(raw_body)
            if route.places_orders:
                check_exp_time(self.ctx, path, request.headers, params)
            reply = await route.handler(self.ctx, params)
        except OkxError as error:
            return error_response(error)
        return await self._after(route, respond(reply.data, code=reply.code, msg=reply.msg))

    def _refusal(self, scopes: frozenset[Scope]) -> web.Response | None:
        faults = self.ctx.faults
        if faults.fire("http_429", scopes):
            return web.Response(status=429, text="Too Many Requests")
        if faults.fire("code_50011", scopes):
            return respond([], code="50011", msg="Too Many Requests", http_status=429)
        if faults.fire("http_5xx", scopes):
            return web.Response(status=503, text="Service Unavailable")
        return None

    async def _after(self, route: Route, response: web.Response) -> web.Response:
        faults = self.ctx.faults
        scopes = _scopes("POST", route)
        if route.places_orders and faults.fire("timeout_after_accept", scopes):
            await asyncio.sleep(faults.numbers["hang_seconds"])
        if faults.fire("http_5xx_after_accept", scopes):
            return web.Response(status=502, text="Bad Gateway")
        return response

    async def _public_ws(self, request: web.Request) -> web.StreamResponse:
        return await self.hub.handle(request, private=False)

    async def _private_ws(self, request: web.Request) -> web.StreamResponse:
        return await self.hub.handle(request, private=True)

    def _schedule(self, delay_seconds: float, callback: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            self._handles.discard(handle)
            callback()

        handle = loop.call_later(delay_seconds, run)
        self._handles.add(handle)

    def _spawn(self, job: Any) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _scopes(method: str, route: Route) -> frozenset[Scope]:
    scopes = {Scope.ALL}
    if method == "GET":
        scopes.add(Scope.READS)
    if route.places_orders:
        scopes.add(Scope.ORDERS)
    return frozenset(scopes)

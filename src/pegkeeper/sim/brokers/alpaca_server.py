"""A local HTTP server that answers as Alpaca does, in-process on a free port (aiohttp), for the
Alpaca brokers' tests and local runs. One server speaks both APIs:

- the Trading API under /v2 (headers APCA-API-KEY-ID and APCA-API-SECRET-KEY; the book's one
  trading account): orders, orders:by_client_order_id, account, account/configurations,
  positions, clock, calendar, account/activities/FILL;
- the Broker API under /v1 (HTTP Basic key:secret): trading/accounts/{account_id}/orders...,
  .../account, .../account/configurations, .../positions, clock, calendar, and
  accounts/activities/FILL?account_id=;
- the simulator's own record under /sim/v1 (HTTP Basic key:secret; not Alpaca's): GET
  /sim/v1/orders, every order of the book as the order endpoints show it (not moved on by the
  read) and the order requests received per client order id.

Every API request goes through one path: counted (per minute of the book's clock and per
endpoint), authenticated (401 for an unknown key, 403 for a wrong secret), the faults that
answer before processing (429, 5xx), the handler, and for order placement the faults that
answer after the order was recorded (a 5xx, or an answer held past the client's timeout).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import web

from pegkeeper.sim.brokers.alpaca_book import AlpacaBook
from pegkeeper.sim.brokers.alpaca_calendar import clock_json
from pegkeeper.sim.brokers.alpaca_faults import AFTER_ACCEPT, AlpacaFaults, FaultKind, Scope
from pegkeeper.sim.brokers.alpaca_records import Account, Order, OrderRefused
from pegkeeper.sim.brokers.alpaca_shapes import (
    account_json,
    activity_json,
    broker_account_json,
    configurations_json,
    order_json,
    position_json,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TRADING = "/v2"
BROKER = "/v1"
BROKER_ACCOUNT = "/v1/trading/accounts/{account_id}"
SIM = "/sim/v1"
PAGE_SIZE_MAX = 100
_BEFORE = frozenset({FaultKind.RATE_LIMIT, FaultKind.ERROR})


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Extension(Protocol):
    """More of Alpaca's API on the same server (tokenization, wallets): its routes go through
    the same pipeline (counting, authentication, faults)."""

    def routes(self) -> list[web.RouteDef]: ...


class OrderHook(Protocol):
    """Orders the book does not take itself (the USDC/USD conversion): placed and shown here,
    read and canceled through the order endpoints like any other."""

    def takes(self, body: dict[str, Any]) -> bool: ...

    def place(self, account_id: str, body: dict[str, Any]) -> Order: ...

    def shape(self, order: Order) -> dict[str, Any] | None: ...


class AlpacaSimServer:
    def __init__(
        self,
        book: AlpacaBook | None = None,
        *,
        key_id: str = "PKSIMULATED0000000001",
        secret_key: str = "simulated-secret-0000000000000000000001",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.book = book or AlpacaBook(
            _wall_ms,
            Account("4c1a8d52-76a4-4a4e-9a5e-4c3c0b3f2b11", "PA3SIM000001", Decimal(100_000)),
        )
        self.credentials = {key_id: secret_key}
        self.host = host
        self.port = port
        self.faults = AlpacaFaults()
        self.requests_by_minute: Counter[int] = Counter()
        self.requests_by_endpoint: Counter[str] = Counter()
        self.requests_by_endpoint_minute: Counter[tuple[str, int]] = Counter()
        self.posted_orders: Counter[str] = Counter()  # order requests received per client id
        self.extensions: list[Extension] = []  # attached before start()
        self.order_hooks: list[OrderHook] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._pipeline])
        app.add_routes(self._routes())
        self._runner = web.AppRunner(
            app, shutdown_timeout=0.5, handle_signals=False, access_log=None
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def orders_of(self, client_order_id: str) -> int:
        """How many orders the book holds with this client id (in any account)."""
        return sum(1 for o in self.book.orders.values() if o.client_order_id == client_order_id)

    def max_requests_in_a_minute(self, endpoint: str | None = None) -> int:
        """The most requests seen in one minute of the book's clock (of one endpoint, named
        as `requests_by_endpoint` names it, e.g. "GET /v2/positions")."""
        if endpoint is None:
            return max(self.requests_by_minute.values(), default=0)
        counts = [
            n for (seen, _), n in self.requests_by_endpoint_minute.items() if seen == endpoint
        ]
        return max(counts, default=0)

    # -- the one path ------------------------------------------------------------------------

    @web.middleware
    async def _pipeline(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        endpoint = f"{request.method} {resource.canonical if resource else request.path}"
        minute = self.book.now_ms() // 60_000
        self.requests_by_minute[minute] += 1
        self.requests_by_endpoint[endpoint] += 1
        self.requests_by_endpoint_minute[(endpoint, minute)] += 1
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        fault = self.faults.take(_BEFORE, _scopes(request))
        if fault is not None and fault.kind is FaultKind.RATE_LIMIT:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return web.json_response(
                {"code": 42910000, "message": "rate limit exceeded"}, status=429, headers=headers
            )
        if fault is not None:
            return web.json_response(
                {"code": 50010000, "message": "internal server error occurred"},
                status=fault.status,
            )
        try:
            return await handler(request)
        except OrderRefused as refusal:
            return web.json_response(refusal.body, status=refusal.status)

    def _authenticate(self, request: web.Request) -> web.Response | None:
        if request.path.startswith(TRADING + "/"):
            key = request.headers.get("APCA-API-KEY-ID", "")
            secret = request.headers.get("APCA-API-SECRET-KEY", "")
        else:
            key, secret = _basic(request.headers.get("Authorization", ""))
        if key not in self.credentials:
            return web.json_response(
                {"code": 40110000, "message": "request is not authorized"}, status=401
            )
        if self.credentials[key] != secret:
            return web.json_response({"message": "forbidden"}, status=403)
        return None

    def _routes(self) -> list[web.RouteDef]:
        account = self._trading_account
        return [
            web.post(f"{TRADING}/orders", self._place(account)),
            web.get(f"{TRADING}/orders:by_client_order_id", self._by_client_id(account)),
            web.get(TRADING + "/orders/{order_id}", self._order(account)),
            web.delete(TRADING + "/orders/{order_id}", self._cancel(account)),
            web.get(f"{TRADING}/account", self._account(account, account_json)),
            web.get(f"{TRADING}/account/configurations", self._configurations(account)),
            web.get(f"{TRADING}/positions", self._positions(account)),
            web.get(TRADING + "/account/activities/{activity_type}", self._activities(account)),
            web.get(f"{TRADING}/clock", self._clock),
            web.get(f"{TRADING}/calendar", self._calendar),
            web.post(f"{BROKER_ACCOUNT}/orders", self._place(_path_account)),
            web.get(
                f"{BROKER_ACCOUNT}/orders:by_client_order_id", self._by_client_id(_path_account)
            ),
            web.get(BROKER_ACCOUNT + "/orders/{order_id}", self._order(_path_account)),
            web.delete(BROKER_ACCOUNT + "/orders/{order_id}", self._cancel(_path_account)),
            web.get(f"{BROKER_ACCOUNT}/account", self._account(_path_account, broker_account_json)),
            web.get(
                f"{BROKER_ACCOUNT}/account/configurations", self._configurations(_path_account)
            ),
            web.get(f"{BROKER_ACCOUNT}/positions", self._positions(_path_account)),
            web.get(
                BROKER + "/accounts/activities/{activity_type}", self._activities(_query_account)
            ),
            web.get(f"{BROKER}/clock", self._clock),
            web.get(f"{BROKER}/calendar", self._calendar),
            web.get(f"{SIM}/orders", self._sim_orders),
            *(route for extension in self.extensions for route in extension.routes()),
        ]

    def _trading_account(self, request: web.Request) -> str:
        return self.book.trading_account_id

    # -- orders --------------------------------------------------------------------------------

    def _place(self, account_of: Callable[[web.Request], str]) -> Handler:
        async def place(request: web.Request) -> web.StreamResponse:
            try:
                body = await request.json()
            except ValueError:
                raise OrderRefused(400, 40010000, "request body must be JSON") from None
            if not isinstance(body, dict):
                raise OrderRefused(400, 40010000, "request body must be a JSON object")
            self.posted_orders[str(body.get("client_order_id"))] += 1
            hook = next((h for h in self.order_hooks if h.takes(body)), None)
            if hook is not None:
                order = hook.place(account_of(request), body)
            else:
                order = self.book.place(account_of(request), body)
            failed = await self.after_accept()
            return failed or web.json_response(self.shape(order))

        return place

    async def after_accept(self) -> web.Response | None:
        """The faults that hit a request after it was recorded: an error answer, or an answer
        held past the client's timeout (None: answer normally)."""
        fault = self.faults.take(AFTER_ACCEPT, frozenset({Scope.ALL, Scope.ORDERS}))
        if fault is not None and fault.kind is FaultKind.HANG_AFTER_ACCEPT:
            await asyncio.sleep(fault.hang_seconds)
        elif fault is not None:
            return web.json_response(
                {"code": 50010000, "message": "internal server error occurred"},
                status=fault.status,
            )
        return None

    def shape(self, order: Order) -> dict[str, Any]:
        for hook in self.order_hooks:
            shown = hook.shape(order)
            if shown is not None:
                return shown
        return order_json(order)

    def _order(self, account_of: Callable[[web.Request], str]) -> Handler:
        async def read(request: web.Request) -> web.StreamResponse:
            order = self.book.read(account_of(request), request.match_info["order_id"])
            return web.json_response(self.shape(order))

        return read

    def _by_client_id(self, account_of: Callable[[web.Request], str]) -> Handler:
        async def read(request: web.Request) -> web.StreamResponse:
            client_id = request.query.get("client_order_id", "")
            order = self.book.read_by_client_id(account_of(request), client_id)
            return web.json_response(self.shape(order))

        return read

    def _cancel(self, account_of: Callable[[web.Request], str]) -> Handler:
        async def cancel(request: web.Request) -> web.StreamResponse:
            self.book.cancel(account_of(request), request.match_info["order_id"])
            return web.Response(status=204)

        return cancel

    async def _sim_orders(self, request: web.Request) -> web.StreamResponse:
        orders = [self.shape(o) for o in self.book.orders.values()]
        return web.json_response({"orders": orders, "posted": dict(self.posted_orders)})

    # -- account -------------------------------------------------------------------------------

    def _account(
        self,
        account_of: Callable[[web.Request], str],
        shape: Callable[[Account, Decimal, Decimal], dict[str, Any]],
    ) -> Handler:
        async def read(request: web.Request) -> web.StreamResponse:
            account = self.book.account(account_of(request))
            held = sum(
                (p.qty * self.book.prices.get(s, Decimal(0)) for s, p in account.positions.items()),
                Decimal(0),
            )
            reserved = self.book.reserved_usd(account.id)
            return web.json_response(shape(account, reserved, held))

        return read

    def _configurations(self, account_of: Callable[[web.Request], str]) -> Handler:
        async def read(request: web.Request) -> web.StreamResponse:
            return web.json_response(configurations_json(self.book.account(account_of(request))))

        return read

    def _positions(self, account_of: Callable[[web.Request], str]) -> Handler:
        async def read(request: web.Request) -> web.StreamResponse:
            account = self.book.account(account_of(request))
            held = [
                position_json(
                    symbol,
                    position,
                    self.book.prices.get(symbol, Decimal(0)),
                    self.book.reserved_shares(account.id, symbol),
                )
                for symbol, position in sorted(account.positions.items())
                if position.qty != 0
            ]
            return web.json_response(held)

        return read

    def _activities(self, account_of: Callable[[web.Request], str]) -> Handler:
        async def read(request: web.Request) -> web.StreamResponse:
            kind = request.match_info["activity_type"]
            if kind != "FILL":
                raise OrderRefused(422, 40010001, f"invalid activity type: {kind}")
            if self.book.activities_status != 200:
                return web.json_response(
                    {"code": 40410000, "message": "activities are not available"},
                    status=self.book.activities_status,
                )
            account_id = account_of(request)
            self.book.account(account_id)
            shown = self.book.fills_shown(account_id, request.query.get("order_id"))
            return web.json_response([activity_json(a) for a in _page(shown, request.query)])

        return read

    # -- market --------------------------------------------------------------------------------

    async def _clock(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(clock_json(self.book.calendar, self.book.now_ms()))

    async def _calendar(self, request: web.Request) -> web.StreamResponse:
        days = sorted(self.book.calendar)
        if not days:
            return web.json_response([])
        start = _date(request.query.get("start"), days[0], "start")
        end = _date(request.query.get("end"), days[-1], "end")
        answer = [
            self.book.calendar[d].as_json(self.book.next_trading_day(d))
            for d in days
            if start <= d <= end
        ]
        return web.json_response(answer)


def _page(items: list[Any], query: Any) -> list[Any]:
    """Alpaca's activity paging: newest first unless direction=asc; `page_token` is the id
    of the last item of the page before; at most `page_size` (100) items."""
    ordered = list(items) if query.get("direction") == "asc" else list(reversed(items))
    token = query.get("page_token")
    if token:
        ids = [a.id for a in ordered]
        ordered = ordered[ids.index(token) + 1 :] if token in ids else []
    try:
        size = int(query.get("page_size", PAGE_SIZE_MAX))
    except ValueError:
        raise OrderRefused(422, 40010001, "page_size must be an integer") from None
    return ordered[: max(1, min(size, PAGE_SIZE_MAX))]


def _path_account(request: web.Request) -> str:
    return request.match_info["account_id"]


def _query_account(request: web.Request) -> str:
    account_id = request.query.get("account_id")
    if not account_id:
        raise OrderRefused(422, 40010001, "account_id is required")
    return account_id


def _date(raw: str | None, default: date, name: str) -> date:
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise OrderRefused(400, 40010001, f"invalid {name}: expected YYYY-MM-DD") from None


def _basic(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    try:
        decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    except (ValueError, UnicodeDecodeError):
        return "", ""
    key, _, secret = decoded.partition(":")
    return key, secret


def _scopes(request: web.Request) -> frozenset[Scope]:
    scopes = {Scope.ALL}
    if request.method == "GET":
        scopes.add(Scope.READS)
    elif request.method == "DELETE":
        scopes.add(Scope.CANCELS)
    elif request.method == "POST" and request.path.endswith("/orders"):
        scopes.add(Scope.ORDERS)
    return frozenset(scopes)

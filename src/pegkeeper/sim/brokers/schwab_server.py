"""A local server that answers as the Charles Schwab Trader API does, in-process on a free port,
for the Schwab broker's tests: the OAuth login and token refresh, account numbers and hashes,
balances and positions, orders (201 with the id in `Location`, no body), their lookup, the
recent-orders list, cancels, and the equity market's hours.

| method and path | answer |
|---|---|
| GET /v1/oauth/authorize?client_id=&redirect_uri= | 302 to redirect_uri?code=...&session=... |
| POST /v1/oauth/token (HTTP Basic app key:secret) | tokens (see below) |
| GET /trader/v1/accounts/accountNumbers | [{accountNumber, hashValue}] |
| GET /trader/v1/accounts/{hash}?fields=positions | securitiesAccount: balances, positions |
| POST /trader/v1/accounts/{hash}/orders | 201, Location .../orders/{id} |
| GET /trader/v1/accounts/{hash}/orders?fromEnteredTime=&toEnteredTime= | orders, newest first |
| GET, DELETE /trader/v1/accounts/{hash}/orders/{id} | the order; 200 on a cancel |
| GET /marketdata/v1/markets?markets=equity&date= | the day's sessionHours, or isOpen false |

The token endpoint takes grant_type authorization_code (a code from the redirect, once) and
refresh_token; access tokens live 30 minutes, refresh tokens 7 days from the login (a refresh
does not extend them; an expired one is answered 400 as Schwab does). Time is the test's clock
(`now_ms`), so token expiry and order times move when the test says.

Faults (`fail_next`, `hang_next`) are taken by the next request to a route: an answer before
any processing (5xx, 429 with or without Retry-After, 401), or the request processed and its
answer held back past the client's timeout.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from aiohttp import web

from pegkeeper.sim.brokers.schwab_book import BadOrder, SchwabBook, SimAccount, SimOrder
from pegkeeper.sim.brokers.schwab_hours import market_hours

ACCESS_TTL_MS = 30 * 60_000
REFRESH_TTL_MS = 7 * 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CODE_TTL_MS = 60_000  # Schwab's codes live for seconds; the login pastes one at once
ROUTES = (
    "authorize",
    "token",
    "account_numbers",
    "account",
    "place_order",
    "orders",
    "order",
    "cancel_order",
    "markets",
)
Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(slots=True)
class Fault:
    route: str
    status: int = 0  # answered before processing (0: processed normally)
    hang_seconds: float = 0.0  # processed, the answer held back this long
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(slots=True)
class _Grant:
    refresh_expires_ms: int
    access_tokens: dict[str, int] = field(default_factory=dict)  # token -> expiry


class SchwabServer:
    def __init__(
        self,
        now_ms: Callable[[], int],
        *,
        app_key: str = "sim-app-key",
        app_secret: str = "sim-app-secret",
        redirect_uri: str = "https://127.0.0.1",
        host: str = "127.0.0.1",
    ) -> None:
        self.now_ms = now_ms
        self.app_key = app_key
        self.app_secret = app_secret
        self.redirect_uri = redirect_uri
        self.host = host
        self.port = 0
        self.book = SchwabBook()
        self.holidays: set[date] = set()
        self.half_days: set[date] = set()
        self.requests: Counter[str] = Counter()  # by route name
        self._faults: list[Fault] = []
        self._codes: dict[str, int] = {}  # authorization code -> issued at
        self._grants: dict[str, _Grant] = {}  # by refresh token
        self._runner: web.AppRunner | None = None
        self._hanging: set[asyncio.Task[Any]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- setup and scripting -------------------------------------------------------------------

    def add_account(
        self,
        account_number: str,
        cash_usd: Decimal,
        long_shares: dict[str, Decimal] | None = None,
    ) -> SimAccount:
        hash_value = secrets.token_hex(32).upper()
        account = SimAccount(account_number, hash_value, cash_usd, dict(long_shares or {}))
        return self.book.add_account(account)

    def grant(self) -> dict[str, Any]:
        """A login as the token endpoint answers it, without the browser step."""
        return self._issue(self._new_grant())

    def expire_logins(self) -> None:
        """Every refresh token and access token stops working now (as after 7 days)."""
        self._grants.clear()

    def fail_next(
        self,
        route: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests to `route` are answered `status` without processing."""
        _check_route(route)
        self._faults += [Fault(route, status, 0.0, dict(headers or {}), body)] * times

    def hang_next(self, route: str, seconds: float) -> None:
        """The next request to `route` is processed, and answered only after `seconds`."""
        _check_route(route)
        self._faults.append(Fault(route, hang_seconds=seconds))

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/oauth/authorize", self._wrap("authorize", self._authorize))
        app.router.add_post("/v1/oauth/token", self._wrap("token", self._token))
        trader = "/trader/v1/accounts"
        app.router.add_get(
            trader + "/accountNumbers", self._wrap("account_numbers", self._account_numbers)
        )
        app.router.add_get(trader + "/{hash}", self._wrap("account", self._account))
        app.router.add_post(trader + "/{hash}/orders", self._wrap("place_order", self._place))
        app.router.add_get(trader + "/{hash}/orders", self._wrap("orders", self._orders))
        app.router.add_get(trader + "/{hash}/orders/{id}", self._wrap("order", self._order))
        app.router.add_delete(
            trader + "/{hash}/orders/{id}", self._wrap("cancel_order", self._cancel)
        )
        app.router.add_get("/marketdata/v1/markets", self._wrap("markets", self._markets))
        self._runner = web.AppRunner(
            app, shutdown_timeout=0.5, handle_signals=False, access_log=None
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        for task in list(self._hanging):
            task.cancel()
        await asyncio.gather(*self._hanging, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- one path for every request ------------------------------------------------------------

    def _wrap(self, route: str, handler: Handler) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            self.requests[route] += 1
            fault = self._take_fault(route)
            if fault is not None and fault.status:
                return _json(
                    fault.body or {"message": "simulated fault"}, fault.status, fault.headers
                )
            if route not in ("authorize", "token"):
                refused = self._check_bearer(request)
                if refused is not None:
                    return refused
            response = await handler(request)
            if fault is not None and fault.hang_seconds > 0:
                await self._hang(fault.hang_seconds)
            return response

        return handle

    def _take_fault(self, route: str) -> Fault | None:
        for i, fault in enumerate(self._faults):
            if fault.route == route:
                return self._faults.pop(i)
        return None

    async def _hang(self, seconds: float) -> None:
        task = asyncio.ensure_future(asyncio.sleep(seconds))
        self._hanging.add(task)
        try:
            await task
        finally:
            self._hanging.discard(task)

    def _check_bearer(self, request: web.Request) -> web.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        now = self.now_ms()
        for grant in self._grants.values():
            expires = grant.access_tokens.get(token)
            if scheme == "Bearer" and expires is not None and now < expires:
                return None
        return _json({"errors": [{"status": "401", "title": "Unauthorized"}]}, 401)

    # -- OAuth -----------------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("client_id") != self.app_key:
            return _json({"error": "invalid_client"}, 400)
        if query.get("redirect_uri") != self.redirect_uri:
            return _json({"error": "invalid_request", "error_description": "redirect_uri"}, 400)
        code = f"C0.{secrets.token_urlsafe(24)}@"  # Schwab's codes end in "@" (%40 encoded)
        self._codes[code] = self.now_ms()
        location = (
            f"{self.redirect_uri}/?code={quote(code, safe='')}&session={secrets.token_hex(8)}"
        )
        return web.Response(status=302, headers={"Location": location})

    async def _token(self, request: web.Request) -> web.Response:
        if not self._basic_ok(request.headers.get("Authorization", "")):
            return _json({"error": "invalid_client", "error_description": "Unauthorized"}, 401)
        form = await request.post()
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(str(form.get("code", "")), str(form.get("redirect_uri", "")))
        if grant_type == "refresh_token":
            return self._refresh(str(form.get("refresh_token", "")))
        return _json({"error": "unsupported_grant_type"}, 400)

    def _basic_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        expected = base64.b64encode(f"{self.app_key}:{self.app_secret}".encode()).decode()
        return scheme == "Basic" and secrets.compare_digest(encoded, expected)

    def _exchange_code(self, code: str, redirect_uri: str) -> web.Response:
        issued = self._codes.pop(code, None)
        if issued is None or self.now_ms() - issued > CODE_TTL_MS:
            return _json(
                {"error": "invalid_grant", "error_description": "Authorization code is invalid"},
                400,
            )
        if redirect_uri != self.redirect_uri:
            return _json({"error": "invalid_grant", "error_description": "redirect_uri"}, 400)
        return _json(self._issue(self._new_grant()))

    def _refresh(self, refresh_token: str) -> web.Response:
        grant = self._grants.get(refresh_token)
        if grant is None or self.now_ms() >= grant.refresh_expires_ms:
            self._grants.pop(refresh_token, None)
            detail = {
                "error_description": "Exception while authenticating refresh token",
                "error": "refresh_token_authentication_error",
            }
            body = {"error": "unsupported_token_type", "error_description": json.dumps(detail)}
            return _json(body, 400)
        return _json(self._issue(refresh_token))

    def _new_grant(self) -> str:
        refresh_token = secrets.token_urlsafe(48)
        self._grants[refresh_token] = _Grant(self.now_ms() + REFRESH_TTL_MS)
        return refresh_token

    def _issue(self, refresh_token: str) -> dict[str, Any]:
        access_token = f"I0.{secrets.token_urlsafe(48)}@"
        self._grants[refresh_token].access_tokens[access_token] = self.now_ms() + ACCESS_TTL_MS
        return {
            "expires_in": ACCESS_TTL_MS // 1000,
            "token_type": "Bearer",
            "scope": "api",
            "refresh_token": refresh_token,
            "access_token": access_token,
            "id_token": secrets.token_urlsafe(32),
        }

    # -- accounts and orders ---------------------------------------------------------------------

    async def _account_numbers(self, request: web.Request) -> web.Response:
        return _json(
            [
                {"accountNumber": a.account_number, "hashValue": a.hash_value}
                for a in self.book.accounts.values()
            ]
        )

    async def _account(self, request: web.Request) -> web.Response:
        account = self.book.accounts.get(request.match_info["hash"])
        if account is None:
            return _json({"message": "Invalid account hash"}, 404)
        with_positions = "positions" in request.query.get("fields", "").split(",")
        return _json(account.to_json(with_positions))

    async def _place(self, request: web.Request) -> web.Response:
        account = self.book.accounts.get(request.match_info["hash"])
        if account is None:
            return _json({"message": "Invalid account hash"}, 404)
        try:
            body = json.loads(await request.read())
            order = self.book.place(account, body, self.now_ms())
        except (BadOrder, json.JSONDecodeError) as error:
            return _json({"message": str(error), "errors": [str(error)]}, 400)
        location = (
            f"{self.base_url}/trader/v1/accounts/{account.hash_value}/orders/{order.order_id}"
        )
        return web.Response(status=201, headers={"Location": location})

    async def _orders(self, request: web.Request) -> web.Response:
        account = self.book.accounts.get(request.match_info["hash"])
        if account is None:
            return _json({"message": "Invalid account hash"}, 404)
        try:
            from_ms = _query_ms(request, "fromEnteredTime")
            to_ms = _query_ms(request, "toEnteredTime")
        except ValueError as error:
            return _json({"message": str(error), "errors": [str(error)]}, 400)
        found = self.book.orders_between(account, from_ms, to_ms, request.query.get("status"))
        limit = int(request.query.get("maxResults", "3000"))
        return _json([o.to_json() for o in found[:limit]])

    async def _order(self, request: web.Request) -> web.Response:
        order = self._find(request)
        if order is None:
            return _json({"message": "Order not found"}, 404)
        return _json(order.to_json())

    async def _cancel(self, request: web.Request) -> web.Response:
        order = self._find(request)
        if order is None:
            return _json({"message": "Order not found"}, 404)
        try:
            self.book.cancel(order, self.now_ms())
        except BadOrder as error:
            return _json({"message": str(error), "errors": [str(error)]}, 400)
        return web.Response(status=200)

    def _find(self, request: web.Request) -> SimOrder | None:
        account = self.book.accounts.get(request.match_info["hash"])
        order_id = request.match_info["id"]
        order = self.book.orders.get(int(order_id)) if order_id.isdigit() else None
        return order if order is not None and order.account is account else None

    async def _markets(self, request: web.Request) -> web.Response:
        if "equity" not in request.query.get("markets", "").split(","):
            return _json({"message": "markets must name equity"}, 400)
        try:
            day = date.fromisoformat(request.query["date"])
        except (KeyError, ValueError):
            return _json({"message": "date must be YYYY-MM-DD"}, 400)
        return _json(market_hours(day, self.holidays, self.half_days))


def _check_route(route: str) -> None:
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}: one of {', '.join(ROUTES)}")


def _query_ms(request: web.Request, key: str) -> int:
    text = request.query.get(key)
    if not text:
        raise ValueError(f"{key} is required (ISO-8601, e.g. 2026-01-05T14:30:00.000Z)")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"{key} must be ISO-8601 with a zone, e.g. 2026-01-05T14:30:00.000Z")
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )

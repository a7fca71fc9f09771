"""Requests to Schwab's Trader API and what their failures mean (domain.errors):

- nothing sent (no connection, the pool full, a 429, a server-named pause not over yet):
  VenueUnavailable / RateLimited;
- a POST (an order) that may have reached Schwab (a timeout, a dropped connection, a 5xx, a
  201 without an order id): VenueUncertain, and it is never sent again (Schwab takes no client
  order id, so a second POST is a second order): the order is looked up among the account's
  recent orders first. A 401 to a POST is not processed either: the access token is refreshed
  before the next request, and the order is not resent;
- a read that fails: VenueUnavailable (a read has no effect); a read answered 401 is sent once
  more after a token refresh;
- a 400 to an order: OrderRejected with Schwab's message; 404: NotFound; 403 or a second 401:
  CredentialsRejected.

Every request waits for the request budget (a token bucket at `requests_per_minute`, real
time). A 429 pauses every request for its Retry-After (seconds or an HTTP date) or 1 s.
"""

from __future__ import annotations

from typing import Any

import httpx

from pegkeeper.adapters.brokers.schwab_oauth import SchwabLogin
from pegkeeper.adapters.brokers.schwab_orders import BROKER, MalformedAnswer, read_json
from pegkeeper.adapters.pacing import RequestBudget, retry_after_seconds
from pegkeeper.domain.errors import (
    CredentialsRejected,
    NotFound,
    OrderRejected,
    RateLimited,
    VenueError,
    VenueUnavailable,
    VenueUncertain,
)
from pegkeeper.ports import Clock

PAUSE_AFTER_429_S = 1.0  # when Schwab names no Retry-After
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def request_budget(requests_per_minute: int, clock: Clock) -> RequestBudget:
    """Never more than `requests_per_minute` in any 60 s (Schwab allows 120 for orders)."""
    return RequestBudget.per_minute(requests_per_minute, 0.0, clock=clock)


class SchwabHttp:
    def __init__(
        self, http: httpx.AsyncClient, login: SchwabLogin, budget: RequestBudget, clock: Clock
    ) -> None:
        self._http = http
        self._login = login
        self._budget = budget
        self._clock = clock
        self._paused_until_ms = 0  # monotonic

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = await self._send("GET", path, params=params)
        return read_json(response.content)

    async def delete(self, path: str) -> None:
        await self._send("DELETE", path)

    async def post_order(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """Sent once, whatever happens (see the module's docstring)."""
        return await self._send("POST", path, body=body)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        response = await self._attempt(method, path, params, body)
        if response.status_code == 401:  # refused before any processing
            self._login.access_refused()
            if method == "POST":
                raise VenueUnavailable(
                    f"{BROKER}: {method} {path} was refused (401): not processed; the access "
                    "token is refreshed before the next request",
                    code="401",
                )
            response = await self._attempt(method, path, params, body)
            if response.status_code == 401:
                raise CredentialsRejected(
                    f"{BROKER}: the access token was refused right after a refresh; "
                    "run `pegkeeper auth schwab` again"
                )
        return self._checked(method, path, response)

    async def _attempt(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
    ) -> httpx.Response:
        self._check_pause()
        token = await self._login.access_token()
        await self._budget.acquire()
        try:
            return await self._http.request(
                method, path, params=params, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as error:
            raise _transport_error(method, path, error) from None

    def _check_pause(self) -> None:
        left_ms = self._paused_until_ms - self._clock.monotonic_ms()
        if left_ms > 0:
            raise RateLimited(
                f"{BROKER}: paused after a rate limit answer, {left_ms / 1000:.1f} s left",
                retry_after_seconds=left_ms / 1000,
            )

    def _checked(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        if status < 300:
            return response
        where = f"{BROKER}: {method} {path}"
        if status == 429:
            wait_s = retry_after_seconds(response.headers.get("Retry-After"), self._clock.now_ms())
            pause_s = PAUSE_AFTER_429_S if wait_s is None else wait_s
            self._paused_until_ms = self._clock.monotonic_ms() + int(pause_s * 1000)
            raise RateLimited(f"{where}: rate limited (429)", retry_after_seconds=wait_s)
        message = f"{where}: {_message(response)} ({status})"
        if status == 403:
            raise CredentialsRejected(
                f"{message}: the app may not do this; check its products at developer.schwab.com"
            )
        if status == 404:
            raise NotFound(message, code="404")
        if status >= 500:
            error_type: type[VenueError] = VenueUnavailable if method == "GET" else VenueUncertain
            raise error_type(message, code=str(status))
        if method == "GET":
            raise VenueUnavailable(message, code=str(status))
        raise OrderRejected(message, code=str(status))


def _transport_error(method: str, path: str, error: httpx.HTTPError) -> VenueError:
    what = f"{BROKER}: {method} {path}: {type(error).__name__}"
    if isinstance(error, _NOT_SENT):
        return VenueUnavailable(f"{what}: not sent")
    if method == "GET":
        return VenueUnavailable(f"{what}: no answer")
    return VenueUncertain(f"{what}: no answer; it may have been processed")


def _message(response: httpx.Response) -> str:
    """Schwab's own words for a refusal: `message`, else its `errors`, else the status."""
    try:
        body = read_json(response.content)
    except MalformedAnswer:
        return response.reason_phrase or "no message"
    if isinstance(body, dict):
        if body.get("message"):
            return str(body["message"])[:500]
        if body.get("errors"):
            return str(body["errors"])[:500]
    return response.reason_phrase or "no message"

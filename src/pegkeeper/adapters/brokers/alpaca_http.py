"""Requests to Alpaca through alpaca-py, and their outcomes in pegkeeper's terms.

alpaca-py's clients carry the host, the authentication (APCA headers for the Trading API,
HTTP Basic for the Broker API) and the JSON handling; its request models are not used, as they
turn quantities and prices into floats: the bodies are built by the adapter. Two of its habits
are switched off, as alpaca-py offers no setting for either:
- its retries: it sends a request again after a 429 or a 504 (sleeping 3 s in between, three
  times), and a 504 on an order may have placed it: pegkeeper decides what is sent again;
- its lack of a timeout: its requests session gets one, so that a hung answer ends.
alpaca-py is synchronous: every request runs in a worker thread (asyncio.to_thread), after the
request budgets let it out.

Outcomes: an answer; OrderRejected (Alpaca refused: no effect); NotFound (404);
RateLimited (429: not processed; the budget pauses for its Retry-After); CredentialsRejected
(401, or 403 without Alpaca's business code); VenueUncertain for a placement or cancel that
may have taken effect (a timeout, a 5xx, a dropped connection, an answer that cannot be read);
VenueUnavailable for a read that did not get an answer and for a request never sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import requests
import structlog
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

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

log = structlog.get_logger("pegkeeper.brokers.alpaca")

# Alpaca's code for a refusal on the account's means (insufficient buying power, shares not
# available): a 403 that is about the order, not the keys
BUSINESS_REFUSAL_CODE = 40310000
KEY_ENV_VARS = "PEGKEEPER_EQUITIES__ALPACA__KEY_ID and PEGKEEPER_EQUITIES__ALPACA__SECRET_KEY"
RATE_LIMIT_PAUSE_SECONDS = 5.0  # after a 429 without Retry-After (jittered 2.5 to 7.5 s)


class Purpose(StrEnum):
    PLACE = "place"  # may place an order: never assume it did not
    CANCEL = "cancel"  # may cancel one
    READ = "read"  # changes nothing


class Endpoint(StrEnum):
    """The budget each request counts against."""

    PLACE = "orders.place"
    CANCEL = "orders.cancel"
    ORDER = "orders.read"
    ACTIVITIES = "activities"
    ACCOUNT = "account"
    POSITIONS = "positions"
    CALENDAR = "calendar"
    CLOCK = "clock"
    TOKENIZATION = "tokenization"
    WALLETS = "wallets"


class AlpacaBudgets:
    """Alpaca counts requests per account and minute: one budget over every request keeps
    under `requests_per_minute`, and each read endpoint has its own half of it, so that
    polling never leaves order placement and cancels waiting for the minute's end."""

    def __init__(self, requests_per_minute: int, clock: Clock) -> None:
        self.total = RequestBudget.per_minute(
            requests_per_minute, RATE_LIMIT_PAUSE_SECONDS, clock=clock
        )
        self._reads_per_minute = max(1, requests_per_minute // 2)
        self._clock = clock
        self._reads: dict[Endpoint, RequestBudget] = {}

    async def acquire(self, endpoint: Endpoint) -> None:
        if endpoint not in (Endpoint.PLACE, Endpoint.CANCEL):
            budget = self._reads.get(endpoint)
            if budget is None:
                budget = RequestBudget.per_minute(self._reads_per_minute, 0.0, clock=self._clock)
                self._reads[endpoint] = budget
            await budget.acquire()
        await self.total.acquire()


class _TimeoutAdapter(HTTPAdapter):
    """requests has no default timeout: every request through this adapter gets one."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(max_retries=0)
        self._timeout_seconds = timeout_seconds

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        timeout = timeout or (self._timeout_seconds, self._timeout_seconds)
        return super().send(request, stream, timeout, verify, cert, proxies)


def configure(client: RESTClient, timeout_seconds: float) -> None:
    """alpaca-py's client without its own retries, and with a timeout on every request."""
    client._retry = 0
    client._retry_codes = []
    adapter = _TimeoutAdapter(timeout_seconds)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)


class AlpacaHttp:
    def __init__(
        self, client: RESTClient, broker: str, what_keys: str, budgets: AlpacaBudgets, clock: Clock
    ) -> None:
        self._client = client
        self._broker = broker
        self._what_keys = what_keys  # "the paper Trading API's keys", for the operator
        self._budgets = budgets
        self._clock = clock

    async def get(self, endpoint: Endpoint, path: str, params: dict[str, str] | None = None) -> Any:
        return await self._send(endpoint, Purpose.READ, lambda: self._client.get(path, params))

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        return await self._send(
            Endpoint.PLACE, Purpose.PLACE, lambda: self._client.post(path, body)
        )

    async def delete(self, path: str) -> None:
        await self._send(Endpoint.CANCEL, Purpose.CANCEL, lambda: self._client.delete(path))

    def close(self) -> None:
        self._client._session.close()

    async def _send(self, endpoint: Endpoint, purpose: Purpose, call: Callable[[], Any]) -> Any:
        await self._budgets.acquire(endpoint)
        try:
            return await asyncio.to_thread(call)
        except APIError as error:
            raise self._answered(error, purpose) from None
        except requests.RequestException as error:
            raise _transport(error, purpose) from error
        except ValueError as error:  # an answer that is not JSON
            raise _unreadable(f"alpaca answered what cannot be read: {error}", purpose) from None

    def _answered(self, error: APIError, purpose: Purpose) -> VenueError | CredentialsRejected:
        status = error.status_code or 0
        code, message = _body(str(error))
        if status == 429:
            return self._rate_limited(error, message)
        if status == 401 or (status == 403 and code != BUSINESS_REFUSAL_CODE):
            return CredentialsRejected(
                f"{self._broker} refused the API keys (HTTP {status}: {message}): set "
                f"{KEY_ENV_VARS} to {self._what_keys}"
            )
        text = f"HTTP {status}: {message}"
        tag = str(code or status)
        if status == 404 and purpose is not Purpose.PLACE:
            return NotFound(text, code=tag)
        if status >= 500:
            if purpose is Purpose.READ:
                return VenueUnavailable(text, code=tag)
            return VenueUncertain(f"outcome unknown: {text}", code=tag)
        return OrderRejected(text, code=tag)

    def _rate_limited(self, error: APIError, message: str) -> RateLimited:
        response = error.response
        header = response.headers.get("Retry-After") if response is not None else None
        wait = retry_after_seconds(header, self._clock.now_ms())
        if wait is None:
            self._budgets.total.pause()
        else:
            self._budgets.total.pause_for(wait)
        log.warning("alpaca rate limit", broker=self._broker, retry_after_seconds=wait)
        return RateLimited(
            f"{self._broker} rate limit, not processed: {message}", retry_after_seconds=wait
        )


def _transport(error: requests.RequestException, purpose: Purpose) -> VenueError:
    """A request that got no answer: never sent when the connection was never made."""
    if isinstance(error, requests.ConnectTimeout) or _never_connected(error):
        return VenueUnavailable(f"could not connect to alpaca, nothing sent: {error}")
    return _unreadable(f"no answer from alpaca: {type(error).__name__}: {error}", purpose)


def _unreadable(message: str, purpose: Purpose) -> VenueError:
    if purpose is Purpose.READ:
        return VenueUnavailable(message)
    return VenueUncertain(f"outcome unknown: {message}")


def _never_connected(error: BaseException) -> bool:
    if not isinstance(error, requests.ConnectionError):
        return False
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError | ConnectionRefusedError)


def _body(text: str) -> tuple[int | None, str]:
    """Alpaca's error body: {"code": 40310000, "message": "..."}; anything else as text."""
    try:
        body = json.loads(text)
    except ValueError:
        return None, text[:300] or "no message"
    if not isinstance(body, dict):
        return None, text[:300]
    code = body.get("code")
    message = str(body.get("message") or text[:300])
    return (code if isinstance(code, int) else None), message

"""What every venue on ccxt needs: ccxt's errors in pegkeeper's terms, request budgets per
endpoint from ccxt's cost table (over adapters.pacing's RequestBudget), retries of idempotent
calls, and ccxt's logs kept quiet.

The translation is what keeps an order from being sent twice. An order request ends in one of:
- OrderRejected: the exchange answered and refused it (insufficient margin, a bad size): no
  effect, nothing to look up;
- VenueUnavailable: it was certainly not processed (a rate limit answer, a refused signature,
  a connection that never opened, a request that reached OKX after its expTime): safe to
  decide again;
- VenueUncertain: anything else (a timeout, a 5xx, a dropped connection, an answer that could
  not be read): the order may exist, and must be looked up by its client id before acting.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import ccxt.async_support as ccxt_async
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from pegkeeper.adapters.pacing import RequestBudget
from pegkeeper.domain.errors import (
    NotFound,
    OrderRejected,
    PositionAlreadyClosed,
    VenueError,
    VenueUnavailable,
    VenueUncertain,
)

log = structlog.get_logger("pegkeeper.venues")

T = TypeVar("T")

# Exchange codes that mean "the thing looked up does not exist" (OKX orders and transfers).
NOT_FOUND_CODES = frozenset({"51603", "58129", "51400"})
# An order with this client id exists already: the earlier attempt went through.
DUPLICATE_CODES = frozenset({"51016", "51011"})
# The request reached OKX after its expTime header (50036; 50037 "Order expired" is read alike):
# refused before it was processed.
EXPIRED_CODES = frozenset({"50036", "50037"})
# There is no position to close (OKX 51023): what a close wanted is already the case.
POSITION_CLOSED_CODES = frozenset({"51023"})
_REFUSED_BEFORE_PROCESSING = (
    ccxt_async.RateLimitExceeded,
    ccxt_async.DDoSProtection,
    ccxt_async.AuthenticationError,
    ccxt_async.InvalidNonce,
)
_NEVER_CONNECTED = (aiohttp.ClientConnectorError, ConnectionRefusedError, socket.gaierror)
_JSON_IN_MESSAGE = re.compile(r"\{.*\}", re.DOTALL)
# ccxt's message for an HTTP error: "<exchange> <METHOD> <url> <status> <reason> <body>"
_HTTP_STATUS = re.compile(r"^\S+ (?:GET|POST|PUT|DELETE) \S+ (\d{3}) ")


def quiet_ccxt_logs() -> None:
    """ccxt logs request headers (the passphrase among them) at debug level: never let them
    through, whatever level the root logger is at."""
    logging.getLogger("ccxt").setLevel(logging.WARNING)


def exchange_code(error: BaseException) -> str:
    """The exchange's own error code carried in a ccxt error's message, or ''."""
    body = _body_of(error)
    if body is None:
        return ""
    for item in body.get("data") or []:
        if isinstance(item, dict) and item.get("sCode") not in (None, "", "0"):
            return str(item["sCode"])
    for key in ("code", "retCode"):
        value = body.get(key)
        if value not in (None, "", "0", 0):
            return str(value)
    return ""


def describe(error: BaseException) -> str:
    """A short message: the exchange's own words when it gave any; never request headers."""
    body = _body_of(error)
    if body is not None:
        for item in body.get("data") or []:
            if isinstance(item, dict) and item.get("sMsg"):
                return f"{type(error).__name__}: {item['sMsg']}"
        for key in ("msg", "retMsg"):
            if body.get(key):
                return f"{type(error).__name__}: {body[key]}"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text[:300]}"


def placement_error(error: BaseException) -> VenueError:
    """For a request that may change state (an order, a transfer, a withdrawal)."""
    code = exchange_code(error)
    message = describe(error)
    if isinstance(error, VenueError):
        return error
    if isinstance(error, _REFUSED_BEFORE_PROCESSING) or http_status(error) == 429:
        return VenueUnavailable(f"not processed: {message}", code=code or "429")
    if code in DUPLICATE_CODES or isinstance(error, ccxt_async.DuplicateOrderId):
        return VenueUncertain(f"the client id exists at the venue already: {message}", code=code)
    if _never_connected(error):
        return VenueUnavailable(f"could not connect, nothing sent: {message}", code=code)
    if code in EXPIRED_CODES:
        return VenueUnavailable(f"not processed: expired at the venue: {message}", code=code)
    if _is_refusal(error, code):
        if code in POSITION_CLOSED_CODES:
            return PositionAlreadyClosed(message, code=code)
        return OrderRejected(message, code=code)
    return VenueUncertain(f"outcome unknown: {message}", code=code)


def read_error(error: BaseException) -> VenueError:
    """For a request that changes nothing (reads, lookups)."""
    code = exchange_code(error)
    message = describe(error)
    if isinstance(error, VenueError):
        return error
    if code in NOT_FOUND_CODES or isinstance(error, ccxt_async.OrderNotFound):
        return NotFound(message, code=code)
    if isinstance(error, _REFUSED_BEFORE_PROCESSING) or http_status(error) == 429:
        return VenueUnavailable(f"not processed: {message}", code=code)
    if _is_refusal(error, code):
        return OrderRejected(message, code=code)
    return VenueUnavailable(message, code=code)


def is_rate_limit(error: BaseException) -> bool:
    if isinstance(error, ccxt_async.RateLimitExceeded | ccxt_async.DDoSProtection):
        return True
    return http_status(error) == 429 or exchange_code(error) == "50011"


def http_status(error: BaseException) -> int | None:
    """The HTTP status in a ccxt error's message (ccxt maps OKX's bare 429 to
    ExchangeNotAvailable, so the class alone does not tell)."""
    found = _HTTP_STATUS.match(str(error))
    return int(found.group(1)) if found else None


class EndpointBudgets:
    """ccxt's cost table for an exchange, enforced per endpoint, as the exchange counts them,
    with `global_budget` over all. An endpoint of cost c may be called once every c * rateLimit
    ms on average, and up to `window_seconds` of that at once.

    ccxt's own limiter is one leaky bucket for every endpoint that earns nothing while idle, so
    it spaces all requests c * rateLimit apart: the five reads and writes of one hedge would
    take most of a second on OKX. The exchange limits each endpoint on its own (OKX: positions
    10 per 2 s, orders 60 per 2 s), which is what this keeps to.
    """

    def __init__(
        self, client: Any, global_budget: RequestBudget, window_seconds: float = 2.0
    ) -> None:
        self._client = client
        self._global = global_budget
        self._window_seconds = window_seconds
        self._endpoints: dict[str, RequestBudget] = {}

    @property
    def pauses(self) -> int:
        return self._global.pauses

    @property
    def waited_seconds(self) -> float:
        return self._global.waited_seconds + sum(
            budget.waited_seconds for budget in self._endpoints.values()
        )

    async def acquire(self, method: str) -> None:
        await self._endpoint(method).acquire()
        await self._global.acquire()

    def pause(self) -> None:
        self._global.pause()

    def _endpoint(self, method: str) -> RequestBudget:
        budget = self._endpoints.get(method)
        if budget is None:
            per_second = 1000 / (float(self._client.rateLimit) * ccxt_cost(self._client, method))
            capacity = max(1, int(per_second * self._window_seconds))
            budget = RequestBudget(capacity, per_second, 0.0)
            self._endpoints[method] = budget
        return budget


def ccxt_cost(client: Any, method: str) -> float:
    """The cost ccxt gives `method` (an implicit API name such as private_get_account_positions)
    in units of its rateLimit; 1 when it gives none."""
    entry = inspect.getattr_static(type(client), method, None)
    config = getattr(entry, "config", None) or {}
    return float(config.get("cost", 1)) or 1.0


async def all_or_none(*calls: Awaitable[Any]) -> list[Any]:
    """Runs the calls together; when one fails the others are cancelled (asyncio.gather
    would leave them running, retrying and spending the request budget in the background)."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def with_retries(
    call: Callable[[], Awaitable[T]],
    attempts: int,
    base_seconds: float,
    rng: random.Random,
    what: str,
) -> T:
    """Runs an idempotent `call`; VenueUnavailable is retried up to `attempts` times in all,
    waiting a random time up to base * 2^n (full jitter) between them."""

    def full_jitter(state: RetryCallState) -> float:
        return rng.uniform(0, base_seconds * 2 ** (state.attempt_number - 1))

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.upcoming_sleep
        log.info("venue read retried", what=what, error=str(error), retry_in_seconds=delay)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=full_jitter,
        retry=retry_if_exception_type(VenueUnavailable),
        before_sleep=log_retry,
        reraise=True,
    )
    result: T = await retrying(call)
    return result


def drop_sockets(client: Any, cause: str) -> list[Any]:
    """Forget every WebSocket of a ccxt.pro client (the next watch dials again); returns the
    old sockets, to be closed by the caller."""
    clients: dict[str, Any] = getattr(client, "clients", None) or {}
    error = ccxt_async.NetworkError(f"reconnecting: {cause}")
    dropped = []
    for url, ws_client in list(clients.items()):
        del clients[url]
        ws_client.error = error  # ccxt's close callback then leaves the next client alone
        ws_client.reject(error)
        dropped.append(ws_client)
    return dropped


async def close_sockets(sockets: list[Any], timeout_seconds: float = 2.0) -> None:
    for ws_client in sockets:
        try:
            async with asyncio.timeout(timeout_seconds):
                await ws_client.close()
        except Exception:  # a socket that will not close cleanly is abandoned
            continue


def _body_of(error: BaseException) -> dict[str, Any] | None:
    found = _JSON_IN_MESSAGE.search(str(error))
    if found is None:
        return None
    try:
        body = json.loads(found.group(0))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _never_connected(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _NEVER_CONNECTED):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_refusal(error: BaseException, code: str) -> bool:
    """The exchange answered and said no: a business error, not a transport one. A bare
    ExchangeError without an exchange code is ccxt's wrapper of a transport error."""
    if isinstance(error, ccxt_async.NetworkError | ccxt_async.OperationFailed):
        return False
    if not isinstance(error, ccxt_async.ExchangeError):
        return False
    return type(error) is not ccxt_async.ExchangeError or bool(code)

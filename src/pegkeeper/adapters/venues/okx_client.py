"""ccxt's OKX client, able to send OKX's `expTime` request header.

OKX refuses a place-order or amend-order request that reaches it after its `expTime` (unix
ms), answering 50036, and executes nothing (ccxt_support reads that as not processed): an
order request delayed past its sender's lease can then never be executed
(specs/distributed.md). OKX documents the header for placing and amending orders only; a
close-position request carries it too, but OKX does not promise to honour it there.

ccxt signs OKX's requests itself and has no way to add a header to one call, so this client
adds `expTime` to every request signed while `expiring` is in force. The setting is a context
variable: another task's requests, signed meanwhile on the same client, carry none. The header
is not part of OKX's signature. The deadline is computed when the request is signed, after the
request budget's wait, so that the wait does not eat into the request's life.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import ccxt.pro

if TYPE_CHECKING:
    from pegkeeper.adapters.venues.okx import OkxCredentials, OkxVenueSettings

EXP_TIME_HEADER = "expTime"

_deadline: ContextVar[Callable[[], int] | None] = ContextVar("okx_exp_time", default=None)


@contextmanager
def expiring(deadline_ms: Callable[[], int]) -> Iterator[None]:
    """Requests signed inside carry `expTime: deadline_ms()` (called at signing)."""
    token = _deadline.set(deadline_ms)
    try:
        yield
    finally:
        _deadline.reset(token)


class OkxClient(ccxt.pro.okx):  # type: ignore[misc]  # ccxt ships no type information
    def sign(
        self,
        path: str,
        api: Any = None,
        method: str = "GET",
        params: Any = None,
        headers: Any = None,
        body: Any = None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = super().sign(path, api or ["public"], method, params or {})
        deadline = _deadline.get()
        if deadline is not None:
            request["headers"] = dict(request.get("headers") or {})
            request["headers"][EXP_TIME_HEADER] = str(deadline())
        return request


def make_client(settings: OkxVenueSettings, credentials: OkxCredentials) -> Any:
    """ccxt's async OKX client as the adapter uses it (pointed at `rest_url` when set)."""
    config: dict[str, Any] = {
        "apiKey": credentials.api_key,
        "secret": credentials.secret_key,
        "password": credentials.passphrase,
        "timeout": int(settings.request_timeout_seconds * 1000),
        "enableRateLimit": False,  # paced per endpoint by EndpointBudgets instead
        "options": {"fetchMarkets": {"types": ["swap", "future"]}},
    }
    if settings.ccxt_rate_limit_ms is not None:
        config["rateLimit"] = settings.ccxt_rate_limit_ms
    client = OkxClient(config)
    if settings.demo_trading:
        client.set_sandbox_mode(True)
    api = client.urls["api"]
    if settings.rest_url:
        api["rest"] = settings.rest_url.rstrip("/")
    if settings.ws_url:
        api["ws"] = settings.ws_url.rstrip("/")
    return client

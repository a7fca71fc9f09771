"""The local broker servers of the equity reaction benchmark, each in a process of its own
(`python -m pegkeeper.sim.brokers.serve`), as a real broker is outside pegkeeper's event loop:
the `[equities]` keys that point a broker at one, and for Schwab the login stored encrypted
before the hedger starts, as `pegkeeper auth schwab` leaves it.

The servers fill market orders whole at the benchmark's prices; the account holds cash and
shares enough for every fill, so the hedger's preflight never holds a hedge back. The brokers'
request budgets are lifted to the highest the settings take (10 000 a minute): the local
servers limit nothing, and one order per fill at a fill every few tenths of a second is past
what Alpaca (200 a minute) or Schwab (120 orders a minute) allow; the benchmark measures the
reaction, not the pacing.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from bench.equity_chain import PRICES_USD
from pegkeeper.adapters.brokers.schwab import schwab_app
from pegkeeper.adapters.brokers.schwab_oauth import SchwabOAuth, code_from_redirect
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.store.token_store import (
    ENCRYPTION_KEY_ENV,
    EncryptedTokenStore,
    TokenCipher,
)
from pegkeeper.config.equities import EquitiesSettings

SERVERS = {"alpaca-trading": "alpaca", "alpaca-broker": "alpaca", "schwab": "schwab"}
CASH_USD = Decimal(100_000_000)
HOLDING_SHARES = Decimal(1_000_000)
REQUESTS_PER_MINUTE = 10_000  # the most `[equities.*] requests_per_minute` takes
START_S = 30.0


@dataclass(slots=True)
class LocalBroker:
    """A server process and the `[equities]` keys that point `broker` at it; once it has
    stopped, the requests it answered (by endpoint or route)."""

    broker: str
    reach: dict[str, str]
    requests: dict[str, int] = field(default_factory=dict)

    def settings(self) -> dict[str, Any]:
        """The `[equities]` keys to change: the broker, its section, the calendar."""
        changes: dict[str, Any] = {"broker": self.broker, "calendar": "always-open"}
        reach = self.reach
        if self.broker == "schwab":
            changes["schwab"] = {
                "base_url": reach["url"],
                "app_key": SecretStr(reach["app_key"]),
                "app_secret": SecretStr(reach["app_secret"]),
                "redirect_uri": reach["redirect_uri"],
                "account_number": reach["account_number"],
                "requests_per_minute": REQUESTS_PER_MINUTE,
            }
            return changes
        changes["alpaca"] = {
            "base_url": reach["url"],
            "key_id": SecretStr(reach["key_id"]),
            "secret_key": SecretStr(reach["secret_key"]),
            "account_id": reach["account_id"] if self.broker == "alpaca-broker" else "",
            "requests_per_minute": REQUESTS_PER_MINUTE,
        }
        return changes

    async def log_in(self, equities: EquitiesSettings, store: SqlStore) -> None:
        """Schwab: the OAuth login over the server's authorize and token endpoints, its
        tokens stored encrypted in `store` (the other brokers take keys: nothing to do)."""
        if self.broker != "schwab":
            return
        clock = RealClock()
        app = schwab_app(equities.schwab)
        async with httpx.AsyncClient(timeout=10) as http:
            redirect = await http.get(app.authorize_url())  # the browser's step: a 302
            code = code_from_redirect(redirect.headers["location"], app.redirect_uri)
            tokens = await SchwabOAuth(app, http, clock).exchange_code(code)
        cipher = TokenCipher.from_environment()
        await EncryptedTokenStore(store.broker_tokens, cipher, clock).save("schwab", tokens)


@asynccontextmanager
async def local_broker(broker: str) -> AsyncIterator[LocalBroker]:
    """`broker`'s server started in its own process, stopped (its stdin closed) after; for
    Schwab, PEGKEEPER_ENCRYPTION_KEY set to a key made for the run meanwhile."""
    holdings = [f"--holding={symbol}={HOLDING_SHARES}" for symbol in sorted(PRICES_USD)]
    prices = [f"--price={symbol}={usd}" for symbol, usd in sorted(PRICES_USD.items())]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pegkeeper.sim.brokers.serve",
        SERVERS[broker],
        f"--cash={CASH_USD}",
        *holdings,
        *prices,
        "--exit-on-eof",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_S)
        if not line:
            raise RuntimeError(f"the local {broker} server ended ({await process.wait()})")
        local = LocalBroker(broker, json.loads(line))
        with _encryption_key(broker == "schwab"):
            yield local
    finally:
        await _stop(process)
    assert process.stdout is not None
    last = await process.stdout.read()  # after the stop: {"requests": ...}
    if last.strip():
        local.requests = json.loads(last.splitlines()[-1])["requests"]


@contextmanager
def _encryption_key(needed: bool) -> Iterator[None]:
    before = os.environ.get(ENCRYPTION_KEY_ENV)
    if needed:
        os.environ[ENCRYPTION_KEY_ENV] = secrets.token_hex(32)
    try:
        yield
    finally:
        if needed and before is None:
            os.environ.pop(ENCRYPTION_KEY_ENV, None)
        elif needed and before is not None:
            os.environ[ENCRYPTION_KEY_ENV] = before


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), 5)
    except TimeoutError:
        process.kill()
        await process.wait()

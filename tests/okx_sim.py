"""The OKX simulator as a real local server for tests: started on a free port, its prices
refreshed every `tick_ms` of real time at a price the test sets, and raw signed requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from pegkeeper.adapters.clock import RealClock
from pegkeeper.bootstrap.sim_exchange import SimExchange, SimExchangeSettings
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.okx_server.auth import Credentials, sign
from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.faults import Faults
from pegkeeper.sim.price_path import PriceTick

PRICE = Decimal("7938.39")
CREDENTIALS = Credentials("test-api-key", "test-secret-key-0123456789", "test-passphrase-42")


@dataclass
class RunningSim:
    exchange: SimExchange
    price_usd: Decimal
    ticking: bool = True
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def engine(self) -> SimEngine:
        return self.exchange.engine

    @property
    def ctx(self) -> SimContext:
        return self.exchange.ctx

    @property
    def faults(self) -> Faults:
        return self.exchange.ctx.faults

    @property
    def rest_url(self) -> str:
        return self.exchange.server.rest_url

    @property
    def ws_url(self) -> str:
        return self.exchange.server.ws_url

    @property
    def credentials(self) -> Credentials:
        return self.exchange.settings.credentials

    def requests_for(self, client_order_id: str) -> int:
        """How many placement requests the simulator received for this client order id."""
        return self.ctx.order_requests[client_order_id]

    def position_contracts(self, instrument_id: str = "BTC-USD-SWAP") -> Decimal:
        return self.engine.position(instrument_id).size_contracts

    def tick(self) -> None:
        self.engine.set_prices(self.exchange.clock.now_ms(), self.price_usd)
        self.exchange.server.prices_changed()


@asynccontextmanager
async def running_sim(
    price_usd: Decimal = PRICE, tick_ms: int = 100, **settings: Any
) -> AsyncIterator[RunningSim]:
    clock = RealClock()
    now_ms = clock.now_ms()
    options: dict[str, Any] = {
        "port": 0,
        "credentials": CREDENTIALS,
        "positions_push_seconds": 0.2,
    } | settings
    ticks = [PriceTick(now_ms, price_usd), PriceTick(now_ms + tick_ms, price_usd)]
    exchange = SimExchange(SimExchangeSettings(**options), clock=clock, ticks=ticks)
    await exchange.start()
    running = RunningSim(exchange, price_usd)

    async def keep_ticking() -> None:
        while True:
            await asyncio.sleep(tick_ms / 1000)
            if running.ticking:
                running.tick()

    running._task = asyncio.create_task(keep_ticking())
    try:
        yield running
    finally:
        running._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running._task
        await exchange.stop()


def login_message(credentials: Credentials, now_s: int | None = None) -> str:
    """The private WebSocket's login op, signed."""
    timestamp = str(int(datetime.now(UTC).timestamp()) if now_s is None else now_s)
    args = {
        "apiKey": credentials.api_key,
        "passphrase": credentials.passphrase,
        "timestamp": timestamp,
        "sign": sign(credentials.secret_key, timestamp + "GET/users/self/verify"),
    }
    return orjson.dumps({"op": "login", "args": [args]}).decode()


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def signed(
    session: aiohttp.ClientSession,
    sim: RunningSim,
    method: str,
    path: str,
    body: Any = None,
    credentials: Credentials | None = None,
) -> tuple[int, Any]:
    """A request signed as OKX wants it; `path` starts with /api/v5 and carries its query."""
    creds = credentials or sim.credentials
    text = "" if body is None else orjson.dumps(body).decode()
    timestamp = iso_now()
    headers = {
        "OK-ACCESS-KEY": creds.api_key,
        "OK-ACCESS-SIGN": sign(creds.secret_key, timestamp + method + path + text),
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": creds.passphrase,
        "Content-Type": "application/json",
    }
    async with session.request(
        method, sim.rest_url + path, data=text or None, headers=headers
    ) as response:
        raw = await response.text()
        try:
            return response.status, orjson.loads(raw)
        except orjson.JSONDecodeError:
            return response.status, raw

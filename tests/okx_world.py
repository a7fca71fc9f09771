"""The OKX adapter (ccxt) pointed at the OKX simulator, and the hedger on top of it, for tests
that need them running against a real local server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.adapters.venues.ccxt_venue import PROFILES, CcxtVenue, CcxtVenueSettings
from pegkeeper.adapters.venues.okx import OkxCredentials, OkxVenue, OkxVenueSettings
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.orders import OrderSide, OrderState
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from tests.okx_sim import RunningSim, running_sim

FAST_VENUE = OkxVenueSettings(
    request_timeout_seconds=1.0,
    retry_backoff_seconds=0.05,
    rate_limit_pause_seconds=0.2,
    max_price_age_seconds=2.0,
    ws_silence_seconds=1.0,
    ccxt_rate_limit_ms=5,
)
FAST_HEDGER = HedgerSettings(
    check_interval_seconds=1.0,
    order_lookup_window_seconds=1.5,
    recheck_open_order_seconds=0.1,
    snapshot_interval_seconds=60.0,
)


def venue_for(sim: RunningSim, settings: OkxVenueSettings = FAST_VENUE) -> OkxVenue:
    creds = sim.credentials
    return OkxVenue(
        replace(settings, rest_url=sim.rest_url, ws_url=sim.ws_url),
        OkxCredentials(creds.api_key, creds.secret_key, creds.passphrase),
        RealClock(),
    )


@asynccontextmanager
async def okx_venue(
    sim: RunningSim, settings: OkxVenueSettings = FAST_VENUE
) -> AsyncIterator[OkxVenue]:
    venue = venue_for(sim, settings)
    try:
        await venue.start()
        yield venue
    finally:
        await venue.close()


@asynccontextmanager
async def ccxt_venue(
    sim: RunningSim, settings: OkxVenueSettings = FAST_VENUE
) -> AsyncIterator[CcxtVenue]:
    """The generic ccxt venue with the okx profile, pointed at the simulator."""
    creds = sim.credentials
    generic = CcxtVenueSettings(
        rest_url=sim.rest_url,
        ws_url=sim.ws_url,
        request_timeout_seconds=settings.request_timeout_seconds,
        retry_backoff_seconds=settings.retry_backoff_seconds,
        rate_limit_pause_seconds=settings.rate_limit_pause_seconds,
        max_price_age_seconds=settings.max_price_age_seconds,
        ws_silence_seconds=settings.ws_silence_seconds,
        ccxt_rate_limit_ms=settings.ccxt_rate_limit_ms,
    )
    secrets = {
        "api_key": creds.api_key,
        "secret_key": creds.secret_key,
        "passphrase": creds.passphrase,
    }
    venue = CcxtVenue(PROFILES["okx"], generic, secrets, RealClock())
    try:
        await venue.start()
        yield venue
    finally:
        await venue.close()


def _venue(sim: RunningSim, settings: OkxVenueSettings, generic: bool) -> Any:
    return ccxt_venue(sim, settings) if generic else okx_venue(sim, settings)


@dataclass
class World:
    sim: RunningSim
    venue: Any  # OkxVenue, or CcxtVenue pointed at the simulator
    store: SqlStore
    hedger: HedgerService
    liability: LiabilityService
    bus: MemoryBus | None = None

    async def post(self, key: str, delta_cents: int) -> None:
        await self.liability.post(key, delta_cents)

    async def until(self, check: Callable[[], bool], what: str, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                orders = await self.store.hedge.recent_orders(20)
                raise AssertionError(f"timed out waiting for {what}; orders: {orders}")
            await asyncio.sleep(0.02)

    async def converged(self, target_contracts: int, seconds: float = 15) -> None:
        """The venue holds the target and the store has nothing in flight."""
        deadline = time.monotonic() + seconds
        while True:
            position = self.sim.position_contracts()
            in_flight = await self.store.hedge.open_orders()
            if position == target_contracts and not in_flight:
                return
            if time.monotonic() > deadline:
                orders = await self.store.hedge.recent_orders(20)
                raise AssertionError(
                    f"not converged to {target_contracts}: position {position}, "
                    f"in flight {in_flight}, orders {orders}"
                )
            await asyncio.sleep(0.05)

    async def check_books(self) -> list[Any]:
        """No decision sent twice, every fill recorded, the venue's position explained by the
        store; returns the orders, oldest first."""
        orders = list(reversed(await self.store.hedge.recent_orders(100)))
        signed_filled = Decimal(0)
        decisions = [o.intent.decision_id for o in orders]
        assert len(decisions) == len(set(decisions)), "a decision made two orders"
        for order in orders:
            client_id = order.intent.client_order_id
            assert order.state.is_terminal, order
            received = self.sim.requests_for(client_id)
            assert received <= 1, f"{client_id} reached the venue {received} times"
            if order.filled_contracts > 0:
                assert received == 1
                venue_report = self.sim.engine.order(client_id)
                assert venue_report.filled_contracts == order.filled_contracts
                fills = await self.store.hedge.fills_for(client_id)
                assert sum(f.size_contracts for f in fills) == order.filled_contracts
                side = self.sim.engine.order_details(client_id).side
                sign = 1 if side is OrderSide.BUY else -1
                signed_filled += sign * order.filled_contracts
            if order.state is OrderState.LOST:
                assert received == 0, f"{client_id} was lost but the venue has it"
        assert signed_filled == self.sim.position_contracts(), "fills do not explain the venue"
        return orders


@asynccontextmanager
async def hedging_world(
    tmp_path: Path,
    sim_options: dict[str, Any] | None = None,
    venue_settings: OkxVenueSettings = FAST_VENUE,
    hedger_settings: HedgerSettings = FAST_HEDGER,
    database_url: str | None = None,
    before_start: Callable[[World], Awaitable[None]] | None = None,
    generic: bool = False,
) -> AsyncIterator[World]:
    """With `generic`, the hedger trades through the generic ccxt venue (unified API) on the
    simulator, on the instrument ccxt calls BTC/USD:BTC."""
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'store' / 'pegkeeper.db'}"
    if generic:
        hedger_settings = replace(hedger_settings, instrument_id="BTC/USD:BTC")
    async with (
        running_sim(**(sim_options or {})) as sim,
        _venue(sim, venue_settings, generic) as venue,
    ):
        store = await open_store(url)
        bus, clock = MemoryBus(), RealClock()
        hedger = HedgerService(store, venue, bus, clock, StablesatsHedgePolicy(), hedger_settings)
        liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**10)
        world = World(sim, venue, store, hedger, liability, bus)
        if before_start is not None:
            await before_start(world)
        task = asyncio.create_task(hedger.run())
        try:
            await asyncio.wait_for(hedger.ready.wait(), 10)
            yield world
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)  # a hedger that will not stop fails the test
            await store.close()

"""Two hedgers on one PostgreSQL database, each with its own connections, woken by the same
liability events: the database lets exactly one of them order each needed change, and never
lets two orders be open at once."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import open_store
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.orders import OrderIntent, OrderReport, OrderState
from pegkeeper.services.hedging.cycle import HedgeCycle, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.engine import SimEngine
from tests.integration.conftest import postgres_database

pytestmark = pytest.mark.postgres

T0 = 1_700_000_000_000
SWAP = "BTC-USD-SWAP"
EVENTS = 200
# 100 000 USD, then 50 000, then 100 000 ...: every event moves the hedge ratio out of the
# brackets [0.95, 1.03], so every event needs exactly one order.
HIGH_CENTS, LOW_CENTS = 10_000_000, 5_000_000


class InterleavingVenue(SimVenue):
    """The simulated venue, answering after a random pause so that the two hedgers' requests
    interleave differently each time; it counts the orders being placed at once."""

    def __init__(self, engine: SimEngine, clock: ManualClock, seed: int) -> None:
        super().__init__(engine, clock)
        self._rng = random.Random(seed)
        self.placing = 0
        self.most_placing_at_once = 0

    async def _pause(self) -> None:
        await asyncio.sleep(self._rng.uniform(0, 0.002))

    async def position(self, instrument_id: str):  # type: ignore[no-untyped-def]
        await self._pause()
        return await super().position(instrument_id)

    async def place_market_order(self, intent: OrderIntent) -> OrderReport:
        self.placing += 1
        self.most_placing_at_once = max(self.most_placing_at_once, self.placing)
        try:
            await self._pause()
            return await super().place_market_order(intent)
        finally:
            self.placing -= 1


async def test_two_hedgers_on_one_database_order_each_change_once() -> None:
    engine = SimEngine(half_spread_usd=Decimal("0.5"))
    engine.credit_trading(Decimal(30))
    clock = ManualClock(T0)
    engine.set_price(T0, Decimal(10_000))
    venue = InterleavingVenue(engine, clock, seed=7)
    async with postgres_database() as url:
        first, second = await open_store(url, clock=clock), await open_store(url, clock=clock)
        try:
            bus = MemoryBus()
            liability = LiabilityService(first.liability, bus, clock, max_abs_delta_cents=10**9)
            hedgers = [
                HedgeCycle(store, venue, bus, clock, StablesatsHedgePolicy(), HedgerSettings())
                for store in (first, second)
            ]
            for i in range(EVENTS):
                delta = HIGH_CENTS if i == 0 else (LOW_CENTS if i % 2 == 0 else -LOW_CENTS)
                result = await liability.post(f"event-{i}", delta)
                clock.advance(1)
                await asyncio.gather(
                    *(h.cycle("liability", result.event.correlation_id) for h in hedgers)
                )
                # the change is covered before the next event: one of the two ordered it
                assert not await first.hedge.open_orders()
            orders = await first.hedge.recent_orders(10 * EVENTS)
            per_event: dict[str, int] = {}
            for order in orders:
                cid = order.intent.correlation_id
                per_event[cid] = per_event.get(cid, 0) + 1
            events = await first.liability.recent(EVENTS)
            assert len(orders) == EVENTS
            assert sorted(per_event) == sorted(e.correlation_id for e in events)
            assert set(per_event.values()) == {1}
            assert {o.state for o in orders} == {OrderState.FILLED}
            assert venue.most_placing_at_once == 1
            # the last event leaves 50 000 USD owed: the hedge is back inside its brackets
            position = engine.position(SWAP).size_contracts
            ratio = -position * 100 / Decimal(50_000)
            assert Decimal("0.95") <= ratio <= Decimal("1.03")
            # both hedgers decided; neither was idle throughout
            decided = {o.intent.decision_id for o in orders}
            assert len(decided) == EVENTS
        finally:
            await first.close()
            await second.close()

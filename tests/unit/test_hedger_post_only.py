"""The hedger's post-only orders, on the simulated exchange in-process with a manual clock:
resting, filling as a maker, canceled after the timeout or when the gap outgrows patience,
and a market order after the venue refused a maker."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.band_policy import BandHedgePolicy
from pegkeeper.domain.orders import OrderKind, OrderState
from pegkeeper.domain.records import DecisionRecord
from pegkeeper.domain.venue import VenuePosition
from pegkeeper.services.hedging.cycle import HedgeCycle, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.engine import SimEngine
from tests.fakes import FakeStore

T0 = 1_700_000_000_000
SWAP = "BTC-USD-SWAP"


class RecordingCycle(HedgeCycle):
    """The cycle as a driver sees it: each recheck it asks for is noted; nothing sleeps."""

    rechecks: list[float]

    async def cycle(self, reason: str, correlation_id: str) -> DecisionRecord | None:
        decision = await super().cycle(reason, correlation_id)
        if self.recheck_in_seconds is not None:
            self.rechecks.append(self.recheck_in_seconds)
        return decision


@dataclass
class World:
    engine: SimEngine
    clock: ManualClock
    store: FakeStore
    hedger: RecordingCycle
    liability: LiabilityService
    rechecks: list[float] = field(default_factory=list)

    async def post(self, cents: int, key: str) -> None:
        await self.liability.post(key, cents)

    def price(self, usd: str, after_seconds: float = 1) -> None:
        self.clock.advance(after_seconds)
        self.engine.set_price(self.clock.now_ms(), Decimal(usd))

    def kinds(self) -> list[tuple[OrderKind, OrderState, Decimal]]:
        return [
            (o.intent.kind, o.state, o.intent.size_contracts)
            for o in self.store.hedge.orders.values()
        ]


async def make_world(half_spread_usd: str = "0.5") -> World:
    engine = SimEngine(half_spread_usd=Decimal(half_spread_usd))
    engine.credit_trading(Decimal(10))
    clock = ManualClock(T0)
    engine.set_price(T0, Decimal(10_000))
    store, bus = FakeStore(), MemoryBus()
    rechecks: list[float] = []
    hedger = RecordingCycle(
        store,
        SimVenue(engine, clock),
        bus,
        clock,
        BandHedgePolicy(),
        HedgerSettings(limit_order_timeout_seconds=30),
    )
    hedger.rechecks = rechecks
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**9)
    world = World(engine, clock, store, hedger, liability, rechecks)
    # 100 000 USD: a target of 1 000 contracts, opened at once (gap 1 000 > urgent 40)
    await world.post(10_000_000, "open")
    await hedger.cycle("liability", "c0")
    assert engine.position(SWAP).size_contracts == -1000
    return world


async def test_a_maker_rests_and_fills_when_the_price_trades_through_it() -> None:
    world = await make_world()
    # +3 000 USD: target 1 030, gap 30 > band 20.6 and <= urgent 41.2: a post-only sell
    await world.post(300_000, "buy1")
    await world.hedger.cycle("liability", "c1")
    order = list(world.store.hedge.orders.values())[-1]
    assert (order.intent.kind, order.intent.limit_price_usd) == (OrderKind.POST_ONLY, 10_000)
    assert order.state is OrderState.ACCEPTED
    assert world.rechecks == [0.5]  # the driver is told when to look again; no task sleeps
    # 10 000.5: the best bid 10 000.0 reaches the order; it fills at its own price as a maker
    world.price("10000.5")
    await world.hedger.cycle("recheck", "c2")
    order = world.store.hedge.orders[order.intent.client_order_id]
    assert order.state is OrderState.FILLED and order.avg_price_usd == 10_000
    (fill,) = await world.store.hedge.fills_for(order.intent.client_order_id)
    # 3 000 USD is 0.3 BTC at 10 000; the maker fee 0.02 %: 0.00006 BTC
    assert fill.fee == Decimal("0.00006000")
    assert world.engine.position(SWAP).size_contracts == -1030
    position = world.engine.position(SWAP)
    assert not world.hedger.would_act(10_300_000, position)


async def test_a_maker_resting_past_its_timeout_is_canceled_and_tried_again() -> None:
    world = await make_world()
    await world.post(300_000, "buy1")
    await world.hedger.cycle("liability", "c1")
    world.price("10000", after_seconds=10)  # not through: still resting
    await world.hedger.cycle("recheck", "c2")
    assert [k for k, _, _ in world.kinds()] == [OrderKind.MARKET, OrderKind.POST_ONLY]
    world.price("10000", after_seconds=20)  # 30 s: the timeout
    await world.hedger.cycle("recheck", "c3")
    # canceled by the hedger, not refused by the venue: the next order rests again
    assert world.kinds()[1:] == [
        (OrderKind.POST_ONLY, OrderState.CANCELED, 30),
        (OrderKind.POST_ONLY, OrderState.ACCEPTED, 30),
    ]
    assert world.engine.open_orders(SWAP)[0].client_order_id == (list(world.store.hedge.orders)[-1])


async def test_after_the_venue_cancels_a_maker_the_next_order_is_a_market_one() -> None:
    world = await make_world(half_spread_usd="0")  # the best bid is the mark: a maker crosses
    await world.post(300_000, "buy1")
    await world.hedger.cycle("liability", "c1")
    assert world.kinds()[1] == (OrderKind.POST_ONLY, OrderState.CANCELED, 30)
    assert world.rechecks == [0.5]  # soon, not at the next periodic check
    await world.hedger.cycle("recheck", "c2")
    assert world.kinds()[2] == (OrderKind.MARKET, OrderState.FILLED, 30)
    assert world.engine.position(SWAP).size_contracts == -1030


async def test_a_gap_that_outgrows_patience_cancels_the_maker_for_a_market_order() -> None:
    world = await make_world()
    await world.post(300_000, "buy1")
    await world.hedger.cycle("liability", "c1")
    # +10 000 USD more: target 1 130, gap 130 > urgent 45.2: no more waiting
    await world.post(1_000_000, "buy2")
    world.price("10000", after_seconds=1)
    await world.hedger.cycle("liability", "c2")
    assert world.kinds()[1:] == [
        (OrderKind.POST_ONLY, OrderState.CANCELED, 30),
        (OrderKind.MARKET, OrderState.FILLED, 130),
    ]
    assert world.engine.position(SWAP).size_contracts == -1130
    assert world.engine.open_orders(SWAP) == []


@pytest.mark.parametrize(("liability", "acts"), [(10_100_000, False), (10_300_000, True)])
async def test_would_act_answers_as_the_cycle_decides(liability: int, acts: bool) -> None:
    world = await make_world()
    position = VenuePosition(SWAP, Decimal(-1000), None, Decimal(10_000))
    # gap 10 <= band 20.2: hold; gap 30 > band 20.6: a trade
    assert world.hedger.would_act(liability, position) is acts

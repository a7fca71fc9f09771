"""The carry allocator (services/hedging/carry.py) over fakes: a perpetual and the rolling
quarterly, 1 000 000 USD of liability. Negative funding moves weight to the quarterly in steps
of 2 %, each once the hedge followed the last; positive funding holds; each change is stored
with its decision at the next version and announced once; a holder that lost its lease
writes and announces nothing. And the hedgers' side: the weights read from the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.allocation import Allocation, HedgeLeg
from pegkeeper.domain.carry import CarryParams
from pegkeeper.domain.carry_records import AllocationWeights
from pegkeeper.domain.events import TOPIC_ALLOCATION, AllocationChanged, decode_event, encode_event
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.instruments import BTC_USD_SWAP, btc_usd_future
from pegkeeper.domain.leases import Lease, LeaseLost, act_under
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide
from pegkeeper.domain.venue import SettledFundingRate
from pegkeeper.services.hedging.carry import CarryAllocator, CarryAllocatorSettings
from pegkeeper.services.hedging.carry_weights import SharedWeights
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from tests.fakes import FakeStore, FakeVenue
from tests.fakes_carry import FakeAllocationRepository, FakeMarkets, FakeRates
from tests.waiting import until

H = 3_600_000
YEAR_MS = 365 * 24 * H


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2020-03-12 21:00")
MARCH = btc_usd_future(ms("2020-03-27 08:00"))  # the quarterly to hold: more than 24 h left
PERP, QUARTERLY = "BTC-USD-SWAP", "BTC-USD-QUARTERLY"
ALLOCATION = Allocation((HedgeLeg(PERP), HedgeLeg(QUARTERLY)))
LIABILITY_CENTS = 100_000_000  # 1 000 000 USD: 10 000 contracts of 100 USD
TRADE_BPS = D(7)  # the taker fee of 5 bps and 2 bps of slippage


class World:
    def __init__(self, rate: str) -> None:
        self.store = FakeStore()
        self.repo = FakeAllocationRepository()
        self.venue = FakeMarkets([BTC_USD_SWAP, MARCH], D(7_000))
        # the published rate, and the same rate at each of the 9 settlements of the last 72 h
        boundary = NOW - NOW % (8 * H)
        settled = [SettledFundingRate(PERP, D(rate), boundary - n * 8 * H) for n in range(9)]
        self.rates = FakeRates(D(rate), boundary + 8 * H, settled)
        self.bus = MemoryBus()
        self.clock = ManualClock(NOW)
        settings = CarryAllocatorSettings(ALLOCATION, CarryParams(), TRADE_BPS)
        self.carry = CarryAllocator(
            self.store, self.repo, self.venue, self.rates, self.bus, self.clock,
            StablesatsHedgePolicy(), settings,
        )  # fmt: skip
        self.announced = self.bus.subscribe(TOPIC_ALLOCATION)

    async def open(self) -> None:
        liability = LiabilityService(
            self.store.liability, self.bus, self.clock, max_abs_delta_cents=10**12
        )
        await liability.post("u1", LIABILITY_CENTS)
        self.venue.hold(PERP, -10_000)  # the whole liability on the perpetual, as at the start

    def follow(self, perp_contracts: int, quarterly_contracts: int) -> None:
        """The hedgers trade to the new shares."""
        self.venue.hold(PERP, perp_contracts)
        self.venue.hold(MARCH.instrument_id, quarterly_contracts)

    async def events(self) -> list[AllocationChanged]:
        """What was announced since the last look (the memory bus delivers at once)."""
        found = []
        while not self.announced.queue.empty():
            event = decode_event(self.announced.queue.get_nowait()[1])
            assert isinstance(event, AllocationChanged)
            found.append(event)
        return found


def expected_gain_bps(rate: D) -> D:
    """(net carry of the quarterly - net carry of the perpetual) over the 72-hour horizon."""
    perp_per_year = rate * 3 * 365  # next and mean are the same rate: the blend is that rate
    to_expiry_ms = MARCH.expiry_ms - NOW  # type: ignore[operator]
    quarterly_per_year = 0 - (2 * TRADE_BPS / 10_000) * YEAR_MS / to_expiry_ms  # no basis
    return (quarterly_per_year - perp_per_year) * (72 * H) / YEAR_MS * 10_000


async def test_negative_funding_moves_weight_to_the_quarterly_in_steps_the_hedge_follows() -> None:
    world = World("-0.003")
    await world.open()
    first = await world.carry.check()
    assert first is not None and first.rule == "moving to a better net carry"
    assert first.weights == (D("0.98"), D("0.02")) and (first.version, first.changed) == (1, True)
    assert (first.move_from, first.move_to) == ("primary:BTC-USD-SWAP", "primary:BTC-USD-QUARTERLY")
    assert first.gain_bps == expected_gain_bps(D("-0.003"))  # 267.1 bps
    assert first.cost_bps == 7 + 7 + 5  # out of the perpetual, into the quarterly, the margin
    perp, quarterly = first.legs
    assert (perp.next_rate, perp.mean_rate, perp.settlements) == (D("-0.003"), D("-0.003"), 9)
    assert perp.carry_per_year == D("-3.285")
    assert (quarterly.instrument_id, quarterly.future_usd, quarterly.spot_usd) == (
        "BTC-USD-200327",
        D(7_000),
        D(7_000),
    )
    assert world.repo.stored.for_legs((PERP, QUARTERLY)) == (D("0.98"), D("0.02"))
    (event,) = await world.events()
    assert (event.version, event.legs, event.weights) == (1, [PERP, QUARTERLY], ["0.98", "0.02"])
    # the quarterly's hedger has not sold its 2 % yet (a share of 20 000 USD, nothing held)
    assert await world.carry.check() is None
    assert "BTC-USD-QUARTERLY is not at its share" in world.carry.waiting_for
    # sold 200 contracts; the perpetual's 10 000 are 1.02 of its share: inside the brackets
    world.follow(-10_000, -200)
    world.clock.advance(60)
    second = await world.carry.check()
    assert second is not None and second.weights == (D("0.96"), D("0.04")) and second.version == 2
    world.follow(-9_600, -400)  # at 0.96 the perpetual's 1.0417 was above 1.03: bought back
    world.clock.advance(60)
    third = await world.carry.check()
    assert third is not None and third.weights == (D("0.94"), D("0.06")) and third.version == 3
    assert [e.version for e in await world.events()] == [2, 3]  # once per change
    assert [d.version for d in world.repo.decisions] == [1, 2, 3]


async def test_nothing_moves_while_an_order_of_a_leg_is_in_flight() -> None:
    world = World("-0.003")
    await world.open()
    order = OrderIntent(
        "ord1", "BTC-USD-200327", OrderKind.MARKET, OrderSide.SELL, D(200), "d", "c", NOW
    )
    await world.store.hedge.create_order(order)
    assert await world.carry.check() is None
    assert world.carry.waiting_for == "order ord1 is in flight"
    assert world.repo.decisions == [] and await world.events() == []


async def test_positive_funding_holds_and_says_so_once() -> None:
    world = World("0.0001")  # 10.95 %/yr to a short on the perpetual, which holds everything
    await world.open()
    for _ in range(3):
        decision = await world.carry.check()
        assert decision is not None and decision.weights == (D(1), D(0))
        assert decision.rule == "holding: the best net carry holds everything"
        world.clock.advance(60)
    (recorded,) = world.repo.decisions  # the same rule again is not stored again
    assert (recorded.version, recorded.changed) == (0, False)
    assert world.repo.stored == AllocationWeights() and await world.events() == []


class _Lost:
    def lease_for_write(self) -> Lease:
        raise LeaseLost("lease 'carry' is not held by host-a:1 any more")


async def test_a_holder_that_lost_its_lease_writes_and_announces_nothing() -> None:
    world = World("-0.003")
    await world.open()

    async def as_lost_holder() -> None:
        act_under(_Lost())
        await world.carry.check()

    with pytest.raises(LeaseLost):
        await asyncio.create_task(as_lost_holder())
    assert world.repo.decisions == [] and world.repo.stored.version == 0
    assert await world.events() == []


# -- the hedgers' side -----------------------------------------------------------------------


async def test_a_hedger_splits_by_the_stored_weights_and_cycles_when_they_change() -> None:
    store, venue, bus, clock = FakeStore(), FakeVenue(), MemoryBus(), ManualClock(NOW)
    repo = FakeAllocationRepository()
    weights = SharedWeights(repo, (PERP, QUARTERLY))
    settings = HedgerSettings(allocation=ALLOCATION, leg_index=0, order_lookup_window_seconds=10)
    hedger = HedgerService(
        store, venue, bus, clock, StablesatsHedgePolicy(), settings, weights=weights
    )
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**9)
    await liability.post("u1", 1_000_000)
    await hedger.cycle("liability", "c1")  # nothing stored: all on the first leg
    assert venue.size_contracts == -98  # round(0.98 * 1 000 000 / 10 000)
    repo.stored = AllocationWeights(1, ((PERP, D("0.5")), (QUARTERLY, D("0.5"))), NOW, "cd1")
    task = asyncio.create_task(hedger.run())
    try:
        await until(hedger.ready.is_set, "the hedger started")
        event = AllocationChanged(1, [PERP, QUARTERLY], ["0.5", "0.5"], "moving", "cd1", NOW)
        await bus.publish(TOPIC_ALLOCATION, encode_event(event))
        # its share is 500 000 cents: ratio 980 000 / 500 000 > 1.03, buy back 48
        await until(lambda: venue.size_contracts == -50, "the hedger followed the weights")
        assert weights.version == 1 and weights() == (D("0.5"), D("0.5"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

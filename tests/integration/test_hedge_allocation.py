"""The liability split across instruments and venues by weight: one hedger per leg, each on
its share, each minding only its own orders, all in one SQL store."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.allocation import Allocation, HedgeLeg
from pegkeeper.domain.errors import VenueUncertain
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.instruments import BTC_USD_SWAP, BTC_USDT_SWAP, btc_usd_future
from pegkeeper.domain.orders import OrderState
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.engine import SimEngine

START_MS = 1_583_971_200_000  # 2020-03-12 00:00 UTC
PRICE = Decimal(6_000)
JUNE = btc_usd_future(1_593_158_400_000)  # 2020-06-26 08:00 UTC


async def test_three_legs_on_two_venues_each_hedge_their_share(store: SqlStore) -> None:
    clock, bus = ManualClock(START_MS), MemoryBus()
    okx = SimEngine([BTC_USD_SWAP, BTC_USDT_SWAP])
    other = SimEngine([JUNE])
    for engine in (okx, other):
        engine.set_prices(START_MS, PRICE)
        engine.credit_trading(Decimal(2))
    okx.credit_trading(Decimal(10_000), "USDT")
    venues = {"primary": SimVenue(okx, clock), "second": SimVenue(other, clock, name="second")}
    allocation = Allocation(
        (
            HedgeLeg("BTC-USD-SWAP", Decimal(2)),
            HedgeLeg("BTC-USDT-SWAP", Decimal(1)),
            HedgeLeg(JUNE.instrument_id, Decimal(1), venue="second"),
        )
    )
    hedgers = [
        HedgerService(
            store,
            venues[leg.venue],
            bus,
            clock,
            StablesatsHedgePolicy(),
            HedgerSettings(instrument_id=leg.instrument_id, allocation=allocation, leg_index=index),
        )
        for index, leg in enumerate(allocation.legs)
    ]
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**10)
    await liability.post("u1", 1_000_000)  # 10 000 USD: 5 000 / 2 500 / 2 500
    # the linear leg's answer is lost: its order stays unknown while the others trade
    venues["primary"].fail_next_order_with(VenueUncertain("read timeout"))
    records = [await hedgers[1].cycle("liability", "c1")]
    records += [await h.cycle("liability", "c1") for h in (hedgers[0], hedgers[2])]
    inverse, linear, dated = (
        okx.position("BTC-USD-SWAP").size_contracts,
        okx.position("BTC-USDT-SWAP").size_contracts,
        other.position(JUNE.instrument_id).size_contracts,
    )
    # 0.98 x 500 000 / 10 000 = 49 contracts of 100 USD; 0.98 x 250 000 / 10 000 = 24.5 -> 24
    assert (inverse, dated) == (-49, -24)
    assert linear == 0  # its order failed before reaching the venue
    assert [r.liability_cents for r in records if r is not None] == [250_000, 500_000, 250_000]
    # the linear hedger waits for its own unknown order; the others are not held up by it
    assert await hedgers[1].cycle("recheck", "c2") is None
    again = await hedgers[0].cycle("periodic", "c3")
    assert again is not None and again.action == "hold"
    clock.advance(11)  # past the lookup window: lost, and the linear leg sells its share
    record = await hedgers[1].cycle("recheck", "c4")
    # 0.01 BTC x 6 000 USD = 6 000 cents a contract: round(0.98 x 250 000 / 6 000) = 41
    assert record is not None and record.size_contracts == 41
    assert okx.position("BTC-USDT-SWAP").size_contracts == -41
    states = sorted(o.state.value for o in await store.hedge.recent_orders(10))
    assert states == sorted([OrderState.FILLED.value] * 3 + [OrderState.LOST.value])

"""A hedge in quarterly futures rolls to the next expiry before settlement, and stays covered
at every fill of the roll. The simulated engine with real BTC-USD quarterly futures (expiries
2020-03-27 and 2020-06-26 08:00 UTC), the SQL store on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.allocation import Allocation, HedgeLeg
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.instruments import btc_usd_future
from pegkeeper.domain.orders import OrderSide, OrderState
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.engine import SimEngine

MARCH, JUNE = "BTC-USD-200327", "BTC-USD-200626"
PRICE = Decimal(6_000)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


class Covered:
    """Records the summed position of both futures after every fill at the venue."""

    def __init__(self, engine: SimEngine) -> None:
        self.engine = engine
        self.totals: list[Decimal] = []
        engine.add_listener(lambda _: self.totals.append(self.total()))

    def total(self) -> Decimal:
        return sum((self.engine.position(i).size_contracts for i in (MARCH, JUNE)), Decimal(0))


def world(
    store: SqlStore, trading_btc: str
) -> tuple[SimEngine, ManualClock, HedgerService, LiabilityService]:
    start = ms("2020-03-25T00:00:00")
    clock = ManualClock(start)
    futures = [btc_usd_future(ms("2020-03-27T08:00:00")), btc_usd_future(ms("2020-06-26T08:00:00"))]
    engine = SimEngine(futures, leverage=4)
    engine.set_prices(start, PRICE)
    engine.credit_trading(Decimal(trading_btc))
    venue = SimVenue(engine, clock)
    settings = HedgerSettings(
        instrument_id="BTC-USD-QUARTERLY",
        allocation=Allocation((HedgeLeg("BTC-USD-QUARTERLY"),)),
        roll_lead_seconds=86_400,
        venue_leverage=Decimal(4),
    )
    bus = MemoryBus()
    hedger = HedgerService(store, venue, bus, clock, StablesatsHedgePolicy(), settings)
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**10)
    return engine, clock, hedger, liability


def tick(engine: SimEngine, clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)
    engine.set_prices(clock.now_ms(), PRICE)


async def test_the_quarterly_is_rolled_in_one_decision_and_covered_throughout(
    store: SqlStore,
) -> None:
    engine, clock, hedger, liability = world(store, trading_btc="2")
    await liability.post("u1", 1_000_000)  # 10 000 USD: 98 contracts of 100 USD
    await hedger.cycle("liability", "c1")
    assert engine.position(MARCH).size_contracts == -98
    covered = Covered(engine)
    tick(engine, clock, 31 * 3600)  # 2020-03-26 07:00: still more than a day before expiry
    record = await hedger.cycle("periodic", "c2")
    assert record is not None and record.action == "hold" and covered.totals == []
    tick(engine, clock, 3600)  # 08:00: one day before, the June future is the one to hold
    record = await hedger.cycle("periodic", "c3")
    assert record is not None and (record.action, record.rule) == ("roll", "roll-to-next-expiry")
    assert record.size_contracts == 98 and record.instrument_id == JUNE
    # sold June first (-196 in all), then bought back March: never less than 98 short
    assert covered.totals == [Decimal(-196), Decimal(-98)]
    assert engine.position(MARCH).size_contracts == 0
    assert engine.position(JUNE).size_contracts == -98
    (roll,) = await store.rolls.recent_rolls(5)
    assert (roll.from_instrument_id, roll.to_instrument_id) == (MARCH, JUNE)
    assert roll.from_position_contracts == -98 and roll.decision_id == record.decision_id
    opened = await store.hedge.get_order(roll.open_client_order_id)
    closed = await store.hedge.get_order(roll.close_client_order_id)
    assert opened is not None and closed is not None
    assert (opened.intent.side, opened.state) == (OrderSide.SELL, OrderState.FILLED)
    assert (closed.intent.side, closed.state) == (OrderSide.BUY, OrderState.FILLED)
    assert opened.intent.decision_id == closed.intent.decision_id == record.decision_id
    # past the March expiry the exchange settles it (nothing left there) and the hedge holds
    tick(engine, clock, 25 * 3600)
    record = await hedger.cycle("periodic", "c4")
    assert record is not None and record.action == "hold" and record.instrument_id == JUNE
    assert [d.instrument_id for d in engine.deliveries] == [MARCH]
    assert engine.deliveries[0].size_contracts == 0


async def test_a_roll_the_margin_cannot_take_at_once_goes_in_covered_steps(
    store: SqlStore,
) -> None:
    # 0.6 BTC: 98 contracts at 6 000 USD take 0.408 BTC of initial margin at 4x, leaving
    # 0.192 BTC; x 0.95 / (100 / 6 000 / 4 BTC a contract) = 43.78 -> steps of 43, 43, 12
    engine, clock, hedger, liability = world(store, trading_btc="0.6")
    await liability.post("u1", 1_000_000)
    await hedger.cycle("liability", "c1")
    covered = Covered(engine)
    tick(engine, clock, 32 * 3600)
    sizes = []
    for step in range(5):
        record = await hedger.cycle("periodic", f"r{step}")
        assert record is not None
        if record.action != "roll":
            break
        sizes.append(record.size_contracts)
    assert sizes == [43, 43, 12]
    assert min(covered.totals) == -141 and max(covered.totals) == -98  # always >= 98 short
    assert engine.position(MARCH).size_contracts == 0
    assert engine.position(JUNE).size_contracts == -98
    assert len(await store.rolls.recent_rolls(10)) == 3

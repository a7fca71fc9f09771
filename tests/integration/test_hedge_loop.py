"""The hedger on real parts: the SQL store (SQLite and PostgreSQL) and the simulated exchange."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.errors import VenueUncertain
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.instruments import BTC_USD_SWAP
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.engine import SimEngine

START_MS = 1_583_971_200_000  # 2020-03-12 00:00 UTC
PRICE = Decimal("7938.39")


def make_world(store: SqlStore) -> tuple[SimVenue, ManualClock, HedgerService, LiabilityService]:
    clock = ManualClock(START_MS)
    engine = SimEngine([BTC_USD_SWAP])
    engine.set_price(START_MS, PRICE)
    engine.credit_trading(Decimal(2))
    venue = SimVenue(engine, clock)
    bus = MemoryBus()
    settings = HedgerSettings(order_lookup_window_seconds=10)
    hedger = HedgerService(store, venue, bus, clock, StablesatsHedgePolicy(), settings)
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**9)
    return venue, clock, hedger, liability


async def test_the_hedge_follows_the_liability(store: SqlStore) -> None:
    venue, _clock, hedger, liability = make_world(store)
    await liability.post("a", 1_000_000)
    await hedger.cycle("liability", "c1")
    position = await venue.position("BTC-USD-SWAP")
    assert position.size_contracts == Decimal(-98)
    (order,) = await store.hedge.recent_orders(10)
    assert order.state is OrderState.FILLED and order.filled_contracts == 98
    fills = await store.hedge.fills_for(order.intent.client_order_id)
    assert sum(f.size_contracts for f in fills) == 98
    snapshot = await store.hedge.last_position()
    assert snapshot is not None and snapshot.exposure_cents == -980_000
    decision = await store.hedge.last_decision()
    assert (
        decision is not None and decision.action == "sell" and decision.liability_cents == 1_000_000
    )


async def test_crash_between_order_row_and_send_then_restart(database_url: str) -> None:
    first = await open_store(database_url)
    venue, clock, _, liability = make_world(first)
    await liability.post("a", 1_000_000)
    # the process wrote the order row and died before sending it
    orphan = OrderIntent(
        "pkorphan1",
        "BTC-USD-SWAP",
        OrderKind.MARKET,
        OrderSide.SELL,
        Decimal(98),
        "d0",
        "c0",
        clock.now_ms(),
    )
    await first.hedge.create_order(orphan)
    await first.close()

    restarted = await open_store(database_url)
    try:
        hedger = HedgerService(
            restarted,
            venue,
            MemoryBus(),
            clock,
            StablesatsHedgePolicy(),
            HedgerSettings(order_lookup_window_seconds=10),
        )
        # inside the lookup window the order might still reach the venue: nothing is sent
        assert await hedger.cycle("startup", "c1") is None
        assert (await venue.position("BTC-USD-SWAP")).size_contracts == 0
        clock.advance(11)
        record = await hedger.cycle("recheck", "c2")
        assert record is not None and record.action == "sell" and record.size_contracts == 98
        states = {
            o.intent.client_order_id: o.state for o in await restarted.hedge.recent_orders(10)
        }
        assert states.pop("pkorphan1") is OrderState.LOST
        assert list(states.values()) == [OrderState.FILLED]
        assert (await venue.position("BTC-USD-SWAP")).size_contracts == Decimal(-98)
    finally:
        await restarted.close()


async def test_timeout_after_accept_is_resolved_without_a_second_order(store: SqlStore) -> None:
    venue, clock, hedger, liability = make_world(store)
    await liability.post("a", 1_000_000)
    venue.timeout_after_accept_next()
    await hedger.cycle("liability", "c1")
    # the execution core looked the client id up at once: found filled, nothing resent
    assert await store.hedge.open_orders() == []
    (order,) = await store.hedge.recent_orders(10)
    assert order.state is OrderState.FILLED and "found by client id after" in order.message
    states = [s.state for s in await store.audit.order_states(order.intent.client_order_id)]
    assert states == [OrderState.CREATED, OrderState.FILLED]
    clock.advance(1)
    await hedger.cycle("recheck", "c2")
    orders = await store.hedge.recent_orders(10)
    assert [o.state for o in orders] == [OrderState.FILLED]
    assert (await venue.position("BTC-USD-SWAP")).size_contracts == Decimal(-98)


async def test_an_uncertain_failure_before_the_venue_leads_to_lost_then_one_retry(
    store: SqlStore,
) -> None:
    venue, clock, hedger, liability = make_world(store)
    await liability.post("a", 1_000_000)
    venue.fail_next_order_with(VenueUncertain("connection reset"))
    await hedger.cycle("liability", "c1")
    assert (await hedger.cycle("recheck", "c2")) is None  # still inside the lookup window
    clock.advance(11)
    await hedger.cycle("recheck", "c3")
    states = [o.state for o in await store.hedge.recent_orders(10)]
    assert states == [OrderState.FILLED, OrderState.LOST]
    assert (await venue.position("BTC-USD-SWAP")).size_contracts == Decimal(-98)

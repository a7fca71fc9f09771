"""The hedger service with fakes behind the ports: decisions, order safety, recovery."""

import asyncio
from decimal import Decimal

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.errors import OrderRejected, PositionAlreadyClosed, VenueUncertain
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from tests.fakes import FakeStore, FakeVenue

START_MS = 1_700_000_000_000


@pytest.fixture
def world() -> tuple[FakeStore, FakeVenue, MemoryBus, ManualClock]:
    return FakeStore(), FakeVenue(), MemoryBus(), ManualClock(START_MS)


def make_hedger(world: tuple[FakeStore, FakeVenue, MemoryBus, ManualClock]) -> HedgerService:
    store, venue, bus, clock = world
    settings = HedgerSettings(order_lookup_window_seconds=10, recheck_open_order_seconds=1)
    return HedgerService(store, venue, bus, clock, StablesatsHedgePolicy(), settings)


async def post(
    world: tuple[FakeStore, FakeVenue, MemoryBus, ManualClock], cents: int, key: str
) -> None:
    store, _, bus, clock = world
    service = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**9)
    await service.post(key, cents)


async def test_a_liability_is_covered_by_a_short(world) -> None:
    store, venue, _, _ = world
    hedger = make_hedger(world)
    await post(world, 1_000_000, "a")  # 10 000 USD
    record = await hedger.cycle("liability", "c1")
    # ratio 0 < 0.95: sell round(0.98 * 1 000 000 / 10 000) = 98 contracts
    assert record is not None and record.action == "sell" and record.size_contracts == 98
    assert venue.size_contracts == Decimal(-98)
    order = next(iter(store.hedge.orders.values()))
    assert order.state is OrderState.FILLED
    # the order carries the correlation id of the liability event it answers, not the trigger's
    (event,) = store.liability.events
    assert order.intent.correlation_id == event.correlation_id != "c1"
    assert order.intent.decision_id == record.decision_id
    assert [s for _, s in store.hedge.states] == [OrderState.CREATED, OrderState.FILLED]
    # the next cycle finds the hedge inside the brackets (ratio 0.98)
    again = await hedger.cycle("position", "c2")
    assert again is not None and again.action == "hold" and again.hedge_ratio == Decimal("0.98")
    assert len(venue.sent) == 1


async def test_every_decision_is_recorded_with_its_inputs(world) -> None:
    store, venue, _, _ = world
    venue.price_usd = Decimal("7938.39")
    hedger = make_hedger(world)
    await post(world, 2_000_000, "a")
    await hedger.cycle("liability", "c1")
    decision = store.hedge.decisions[0]
    assert (decision.liability_cents, decision.exposure_cents) == (2_000_000, 0)
    assert decision.hedge_ratio == 0 and decision.btc_price_usd == Decimal("7938.39")
    assert decision.rule == "under-hedged-sell" and decision.trigger == "liability"


async def test_a_periodic_check_that_finds_nothing_new_is_not_recorded_again(world) -> None:
    store, _, _, _ = world
    hedger = make_hedger(world)
    await post(world, 1_000_000, "a")
    await hedger.cycle("liability", "c1")
    await hedger.cycle("periodic", "c2")
    await hedger.cycle("periodic", "c3")
    assert [d.trigger for d in store.hedge.decisions] == ["liability", "periodic"]


async def test_timeout_after_the_venue_accepted_never_sends_twice(world) -> None:
    store, venue, _, clock = world
    hedger = make_hedger(world)
    await post(world, 1_000_000, "a")
    venue.accept_then_fail_next = VenueUncertain("read timeout")
    await hedger.cycle("liability", "c1")
    (order,) = store.hedge.orders.values()
    # looked up at once by its client id: found filled, recorded as the venue's answer
    assert order.state is OrderState.FILLED
    assert order.message == "found by client id after: read timeout"
    clock.advance(1)
    await hedger.cycle("recheck", "c2")
    assert store.hedge.orders[order.intent.client_order_id].state is OrderState.FILLED
    assert len(venue.sent) == 1 and venue.size_contracts == Decimal(-98)
    assert len(await store.hedge.fills_for(order.intent.client_order_id)) == 1


async def test_crash_between_order_row_and_send_is_looked_up_first(world) -> None:
    store, venue, _, clock = world
    await post(world, 1_000_000, "a")
    # a previous process stored this order and died before sending it
    orphan = OrderIntent(
        "pkorphan",
        "BTC-USD-SWAP",
        OrderKind.MARKET,
        OrderSide.SELL,
        Decimal(98),
        "d0",
        "c0",
        START_MS,
    )
    await store.hedge.create_order(orphan)
    hedger = make_hedger(world)
    assert await hedger.cycle("startup", "c1") is None  # waits: the order may still arrive
    assert venue.sent == []
    clock.advance(11)  # past the lookup window: the venue never saw it
    record = await hedger.cycle("recheck", "c2")
    assert store.hedge.orders["pkorphan"].state is OrderState.LOST
    assert record is not None and record.action == "sell" and len(venue.sent) == 1


async def test_crash_after_send_finds_the_filled_order_and_does_not_resend(world) -> None:
    store, venue, _, _ = world
    await post(world, 1_000_000, "a")
    sent = OrderIntent(
        "pksent",
        "BTC-USD-SWAP",
        OrderKind.MARKET,
        OrderSide.SELL,
        Decimal(98),
        "d0",
        "c0",
        START_MS,
    )
    await store.hedge.create_order(sent)
    await venue.place_market_order(sent)  # reached the venue; the process died before recording
    venue.sent.clear()
    record = await make_hedger(world).cycle("startup", "c1")
    assert store.hedge.orders["pksent"].state is OrderState.FILLED
    assert record is not None and record.action == "hold"
    assert venue.sent == []


async def test_a_rejected_order_is_recorded_and_nothing_is_left_in_flight(world) -> None:
    store, venue, _, _ = world
    hedger = make_hedger(world)
    await post(world, 1_000_000, "a")
    venue.fail_next = OrderRejected("insufficient balance", code="51008")
    await hedger.cycle("liability", "c1")
    (order,) = store.hedge.orders.values()
    assert order.state is OrderState.REJECTED and "51008" in order.message
    assert await store.hedge.open_orders() == []


async def test_below_threshold_closes_the_position(world) -> None:
    _store, venue, _, _ = world
    hedger = make_hedger(world)
    await post(world, 1_000_000, "a")
    await hedger.cycle("liability", "c1")
    await post(world, -996_000, "b")  # 40 USD left: below the 50 USD threshold
    record = await hedger.cycle("liability", "c2")
    assert record is not None and record.action == "close"
    assert venue.size_contracts == 0
    # 10 000 USD hedged at 10 000 USD/BTC by 100-USD contracts, short 98 (the 0.98 bracket):
    # the decision and the order say 98 contracts closed, not 0
    close = venue.sent[-1]
    assert record.size_contracts == 98 and close.size_contracts == 98
    stored = _store.hedge.orders[close.client_order_id]
    assert (stored.intent.size_contracts, stored.filled_contracts) == (98, 98)


async def test_a_close_the_venue_finds_already_done_counts_as_filled(world) -> None:
    store, venue, _, _ = world
    hedger = make_hedger(world)
    await post(world, 1_000_000, "a")
    await hedger.cycle("liability", "c1")
    await post(world, -996_000, "b")
    venue.fail_next = PositionAlreadyClosed("position does not exist", code="51023")
    record = await hedger.cycle("liability", "c2")
    assert record is not None and record.action == "close"
    close = venue.sent[-1]
    assert close.kind is OrderKind.CLOSE_POSITION
    assert store.hedge.orders[close.client_order_id].state is OrderState.FILLED
    assert await store.hedge.open_orders() == []


async def test_the_run_loop_reacts_to_a_liability_event_on_the_bus(world) -> None:
    _store, venue, _, _ = world
    hedger = make_hedger(world)
    task = asyncio.create_task(hedger.run())
    await hedger.ready.wait()
    await post(world, 500_000, "a")
    for _ in range(100):
        if venue.size_contracts != 0:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert venue.size_contracts == Decimal(-49)  # round(0.98 * 500 000 / 10 000) = round(49.0)


async def test_an_order_the_margin_cannot_carry_waits_for_the_collateral(world) -> None:
    store, venue, bus, clock = world
    settings = HedgerSettings(recheck_open_order_seconds=1, wait_for_collateral=True)
    hedger = HedgerService(store, venue, bus, clock, StablesatsHedgePolicy(), settings)
    await post(world, 1_000_000, "a")
    # 98 contracts of 100 USD at 10 000 USD and leverage 4 take 0.245 BTC of initial margin
    venue.available_btc = Decimal("0.2449")
    record = await hedger.cycle("liability", "c1")
    assert record is not None and record.rule == "under-hedged-sell-waits-for-collateral"
    assert record.action == "hold" and venue.sent == []
    await hedger.cycle("recheck", "c2")  # still short: not recorded again
    assert [d.rule for d in store.hedge.decisions] == ["under-hedged-sell-waits-for-collateral"]
    venue.available_btc = Decimal("0.245")  # the funding manager moved collateral in
    record = await hedger.cycle("recheck", "c3")
    assert record is not None and record.action == "sell" and len(venue.sent) == 1
    # the order still answers the liability event that asked for it
    (event,) = store.liability.events
    assert venue.sent[0].correlation_id == event.correlation_id

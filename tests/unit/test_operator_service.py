"""Operator actions with fakes behind the ports: pause, resume, close, acknowledge, restore."""

from decimal import Decimal

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.errors import (
    InvalidInput,
    OrderRejected,
    PositionAlreadyClosed,
    VenueUncertain,
)
from pegkeeper.domain.events import OperatorActed, decode_event
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.instruments import BTC_USD_SWAP, BTC_USDT_SWAP
from pegkeeper.domain.operator import OperatorActionKind, OperatorResult
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.hedging.operator import OperatorService, Requester
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.engine import SimEngine
from tests.fakes import FakeOperatorActionRepository, FakeStore, FakeVenue

START_MS = 1_700_000_000_000
ALICE = Requester("alice", "10.0.0.7")


class World:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.venue = FakeVenue()
        self.bus = MemoryBus()
        self.clock = ManualClock(START_MS)
        self.actions = FakeOperatorActionRepository()
        self.control = HedgeControl()
        self.woken: list[str] = []
        self.hedger = HedgerService(
            self.store,
            self.venue,
            self.bus,
            self.clock,
            StablesatsHedgePolicy(),
            HedgerSettings(order_lookup_window_seconds=10, recheck_open_order_seconds=1),
            self.control,
        )
        self.operator = self.new_operator()

    def new_operator(self) -> OperatorService:
        return OperatorService(
            self.control,
            self.store,
            self.actions,
            self.venue,
            self.bus,
            self.clock,
            "BTC-USD-SWAP",
            wake_hedger=self.woken.append,
        )

    async def post(self, cents: int, key: str) -> None:
        service = LiabilityService(
            self.store.liability, self.bus, self.clock, max_abs_delta_cents=10**9
        )
        await service.post(key, cents)


@pytest.fixture
def world() -> World:
    return World()


async def test_a_paused_hedger_sends_nothing_until_resumed(world: World) -> None:
    operators = world.bus.subscribe("operator")
    paused = await world.operator.pause(ALICE, "exchange maintenance")
    assert paused.result is OperatorResult.DONE and world.hedger.paused
    assert (paused.operator, paused.created_at_ms, paused.note) == (
        "alice",
        START_MS,
        "exchange maintenance",
    )
    assert paused.client_address == "10.0.0.7" and paused.target == "BTC-USD-SWAP"
    await world.post(1_000_000, "a")
    await world.hedger.cycle("liability", "c1")
    assert world.venue.sent == [] and world.store.hedge.decisions == []

    again = await world.operator.pause(Requester("bob"), None)
    assert again.result is OperatorResult.UNCHANGED and "already paused by alice" in again.detail

    world.clock.advance(60)
    resumed = await world.operator.resume(Requester("bob"), "")
    assert resumed.result is OperatorResult.DONE and not world.hedger.paused
    assert world.control.state.by == "bob" and world.control.state.since_ms == START_MS + 60_000
    assert world.woken == ["operator"]
    await world.hedger.cycle("operator", "c2")
    assert world.venue.size_contracts == Decimal(-98)  # round(0.98 * 1 000 000 / 10 000)

    assert [a.action for a in world.actions.actions] == [
        OperatorActionKind.PAUSE_HEDGING,
        OperatorActionKind.PAUSE_HEDGING,
        OperatorActionKind.RESUME_HEDGING,
    ]
    published = [decode_event(operators.queue.get_nowait()[1]) for _ in range(3)]
    assert all(isinstance(e, OperatorActed) for e in published)
    assert [e.hedging_paused for e in published if isinstance(e, OperatorActed)] == [
        True,
        True,
        False,
    ]


async def test_closing_the_position_sends_one_close_order_and_keeps_hedging_paused(
    world: World,
) -> None:
    await world.post(1_000_000, "a")
    await world.hedger.cycle("liability", "c1")
    assert world.venue.size_contracts == Decimal(-98)

    action = await world.operator.close_position(ALICE, "incident 42")
    assert action.result is OperatorResult.DONE, action.detail
    assert "closed 98 contracts at 10000 USD" in action.detail
    assert world.venue.size_contracts == 0 and world.hedger.paused
    close = world.venue.sent[-1]
    assert close.kind is OrderKind.CLOSE_POSITION and close.correlation_id == action.correlation_id
    decision = world.store.hedge.decisions[-1]
    assert (decision.trigger, decision.policy, decision.action) == ("operator", "operator", "close")
    assert decision.rule == "operator-close by alice" and decision.size_contracts == 98
    assert decision.exposure_cents == -980_000 and decision.liability_cents == 1_000_000
    stored = world.store.hedge.orders[close.client_order_id]
    assert stored.state is OrderState.FILLED
    # the order carries the size it closes, and its fills the size closed: 98 each
    assert (stored.intent.size_contracts, stored.filled_contracts) == (98, 98)
    snapshot = world.store.hedge.snapshots[-1]
    assert snapshot.size_contracts == 0 and snapshot.correlation_id == action.correlation_id

    # paused: the liability is still owed, but the hedger does not open the short again
    await world.hedger.cycle("periodic", "c2")
    assert world.venue.size_contracts == 0 and len(world.venue.sent) == 2


async def test_closing_without_a_position_changes_nothing(world: World) -> None:
    action = await world.operator.close_position(ALICE)
    assert action.result is OperatorResult.UNCHANGED
    assert action.detail == "no position to close on BTC-USD-SWAP"
    assert world.venue.sent == [] and world.store.hedge.decisions == []
    assert world.hedger.paused  # a close always stops the hedger


async def test_closing_while_an_order_is_in_flight_is_refused(world: World) -> None:
    await world.post(1_000_000, "a")
    # the answer is lost and the venue does not know the order yet: it stays in flight
    world.venue.fail_next = VenueUncertain("timeout")
    await world.hedger.cycle("liability", "c1")
    (order,) = world.store.hedge.orders.values()
    assert order.state is OrderState.UNKNOWN
    action = await world.operator.close_position(ALICE)
    assert action.result is OperatorResult.FAILED
    assert f"order {order.intent.client_order_id} is still unknown" in action.detail
    assert len(world.venue.sent) == 1


async def test_an_uncertain_close_is_left_for_the_lookup(world: World) -> None:
    await world.post(1_000_000, "a")
    await world.hedger.cycle("liability", "c1")
    world.venue.fail_next = VenueUncertain("read timed out")
    action = await world.operator.close_position(ALICE)
    assert (
        action.result is OperatorResult.UNCERTAIN and "looked up by its client id" in action.detail
    )
    close = world.venue.sent[-1]
    assert world.store.hedge.orders[close.client_order_id].state is OrderState.UNKNOWN
    assert world.woken == ["recheck"]


async def test_a_close_refused_by_the_venue_is_a_failure(world: World) -> None:
    await world.post(1_000_000, "a")
    await world.hedger.cycle("liability", "c1")
    world.venue.fail_next = OrderRejected("reduce-only refused", code="51008")
    action = await world.operator.close_position(ALICE)
    assert action.result is OperatorResult.FAILED and "51008" in action.detail
    close = world.venue.sent[-1]
    assert world.store.hedge.orders[close.client_order_id].state is OrderState.REJECTED


async def test_a_position_the_venue_already_closed_leaves_things_unchanged(world: World) -> None:
    await world.post(1_000_000, "a")
    await world.hedger.cycle("liability", "c1")
    world.venue.fail_next = PositionAlreadyClosed("position does not exist", code="51023")
    action = await world.operator.close_position(ALICE)
    assert action.result is OperatorResult.UNCHANGED
    assert action.detail.startswith("the venue had no position to close")
    close = world.venue.sent[-1]
    assert world.store.hedge.orders[close.client_order_id].state is OrderState.FILLED


async def test_the_service_reads_no_venue_codes_only_the_domain_error(world: World) -> None:
    """A venue's code means nothing here until its adapter has turned it into a domain error."""
    await world.post(1_000_000, "a")
    await world.hedger.cycle("liability", "c1")
    world.venue.fail_next = OrderRejected("position does not exist", code="51023")
    action = await world.operator.close_position(ALICE)
    assert action.result is OperatorResult.FAILED
    close = world.venue.sent[-1]
    assert world.store.hedge.orders[close.client_order_id].state is OrderState.REJECTED


@pytest.mark.parametrize(
    ("last", "paused"),
    [
        (None, False),
        ("pause", True),
        ("resume", False),
        ("close", True),
    ],
)
async def test_hedging_stays_as_the_last_operator_left_it_after_a_restart(
    world: World, last: str | None, paused: bool
) -> None:
    if last == "pause":
        await world.operator.pause(ALICE)
    elif last == "resume":
        await world.operator.pause(ALICE)
        await world.operator.resume(ALICE)
    elif last == "close":
        await world.operator.close_position(ALICE)
    await world.operator.acknowledge_alert(ALICE, "alert-1")  # does not touch hedging
    world.control = HedgeControl()  # a new process
    restarted = world.new_operator()
    await restarted.restore()
    assert world.control.paused is paused
    if paused:
        assert world.control.state.by == "alice"


async def test_acknowledging_an_alert_is_recorded(world: World) -> None:
    action = await world.operator.acknowledge_alert(ALICE, "funding-low:2026-11-24", "seen")
    assert action.result is OperatorResult.RECORDED and action.target == "funding-low:2026-11-24"
    assert action.note == "seen" and not world.hedger.paused

    class Desk:
        def __init__(self) -> None:
            self.acknowledged: list[tuple[str, str, int]] = []

        async def acknowledge(self, alert_id: str, operator: str, now_ms: int) -> str:
            if alert_id != "a1":
                raise LookupError(alert_id)
            self.acknowledged.append((alert_id, operator, now_ms))
            return "acknowledged; the alert stops repeating"

    desk = Desk()
    world.operator.alerts = desk
    known = await world.operator.acknowledge_alert(ALICE, "a1")
    assert known.detail == "acknowledged; the alert stops repeating"
    assert desk.acknowledged == [("a1", "alice", START_MS)]
    unknown = await world.operator.acknowledge_alert(ALICE, "a2")
    assert unknown.result is OperatorResult.FAILED and "no such alert" in unknown.detail


@pytest.mark.parametrize("alert_id", ["", " x", "a/b", "x" * 129, 7, None])
async def test_a_malformed_alert_id_is_refused_and_nothing_recorded(
    world: World, alert_id: object
) -> None:
    with pytest.raises(InvalidInput, match="alert id must be"):
        await world.operator.acknowledge_alert(ALICE, alert_id)
    assert world.actions.actions == []


async def test_a_note_too_long_is_refused_and_nothing_changes(world: World) -> None:
    with pytest.raises(InvalidInput, match="at most 500 characters, got 501"):
        await world.operator.pause(ALICE, "x" * 501)
    assert world.actions.actions == [] and not world.hedger.paused


async def test_close_position_closes_every_leg_of_the_allocation() -> None:
    """With two legs the close reaches both instruments, not only `[hedger] instrument_id`."""
    engine = SimEngine([BTC_USD_SWAP, BTC_USDT_SWAP])
    engine.credit_trading(Decimal(5))
    engine.credit_trading(Decimal(50_000), "USDT")
    clock = ManualClock(1_700_000_000_000)
    engine.set_prices(clock.now_ms(), Decimal(10_000))
    venue = SimVenue(engine, clock)
    store, bus = FakeStore(), MemoryBus()
    for n, (instrument_id, size) in enumerate((("BTC-USD-SWAP", 30), ("BTC-USDT-SWAP", 200))):
        opening = OrderIntent(
            f"open{n}", instrument_id, OrderKind.MARKET, OrderSide.SELL, Decimal(size),
            "d", "c", clock.now_ms(),
        )  # fmt: skip
        await venue.place_market_order(opening)

    async def legs() -> list[str]:
        return ["BTC-USD-SWAP", "BTC-USDT-SWAP"]

    operator = OperatorService(
        HedgeControl(), store, FakeOperatorActionRepository(), venue, bus, clock,
        "BTC-USD-SWAP", held_instruments=legs,
    )  # fmt: skip
    action = await operator.close_position(Requester("alice"), "both legs")
    assert action.result is OperatorResult.DONE
    assert engine.position("BTC-USD-SWAP").size_contracts == 0
    assert engine.position("BTC-USDT-SWAP").size_contracts == 0
    closes = [o.intent for o in store.hedge.orders.values()]
    assert [(o.instrument_id, o.kind) for o in closes] == [
        ("BTC-USD-SWAP", OrderKind.CLOSE_POSITION),
        ("BTC-USDT-SWAP", OrderKind.CLOSE_POSITION),
    ]
    # one decision per leg, all under the action's correlation id
    assert {d.instrument_id for d in store.hedge.decisions} == {"BTC-USD-SWAP", "BTC-USDT-SWAP"}
    assert {o.correlation_id for o in closes} == {action.correlation_id}
    assert "closed 30 contracts" in action.detail and "closed 200 contracts" in action.detail


async def test_a_close_through_another_process_is_executed_once_by_the_holder(
    world: World,
) -> None:
    await world.post(1_000_000, "a")
    await world.hedger.cycle("liability", "c1")
    assert world.venue.size_contracts == Decimal(-98)
    # the web process: it shares the store, so it only records the request
    web = OperatorService(
        HedgeControl(),
        world.store,
        world.actions,
        world.venue,
        world.bus,
        world.clock,
        "BTC-USD-SWAP",
    )
    web.shared_store = True
    requested = await web.close_position(ALICE, "incident 43")
    assert requested.result is OperatorResult.REQUESTED
    assert world.venue.size_contracts == Decimal(-98) and len(world.venue.sent) == 1
    # the hedger's process reads it before its next cycle, closes, and records the outcome
    world.hedger.before_cycle = world.operator.sync
    await world.hedger.cycle("operator", "c2")
    assert world.venue.size_contracts == 0 and world.hedger.paused
    close = world.venue.sent[-1]
    assert close.kind is OrderKind.CLOSE_POSITION
    assert close.correlation_id == requested.correlation_id
    done = (await world.actions.recent(1))[0]
    assert (done.action, done.result) == (OperatorActionKind.CLOSE_POSITION, OperatorResult.DONE)
    assert (done.operator, done.note) == ("alice", "incident 43")
    # later cycles find the close done: no second close order
    await world.hedger.cycle("periodic", "c3")
    assert len(world.venue.sent) == 2


async def test_a_resume_through_another_process_reaches_the_hedger(world: World) -> None:
    world.hedger.before_cycle = world.operator.sync
    web = OperatorService(
        HedgeControl(),
        world.store,
        world.actions,
        world.venue,
        world.bus,
        world.clock,
        "BTC-USD-SWAP",
    )
    await web.pause(ALICE)
    await world.post(1_000_000, "a")
    await world.hedger.cycle("liability", "c1")
    assert world.hedger.paused and world.venue.sent == []
    await web.resume(ALICE)
    await world.hedger.cycle("operator", "c2")
    assert not world.hedger.paused and world.venue.size_contracts == Decimal(-98)

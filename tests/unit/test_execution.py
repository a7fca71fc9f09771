"""The execution core: every order's path (commit first, send, sort, look up, resolve) and the
same rules for money moved between accounts; numbers and states as the rules say."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.collateral import (
    CollateralDecisionRecord,
    CollateralOperation,
    OperationKind,
    OperationState,
    OperationUpdate,
)
from pegkeeper.domain.errors import (
    NotFound,
    OrderRejected,
    PositionAlreadyClosed,
    SlotTaken,
    VenueUnavailable,
    VenueUncertain,
)
from pegkeeper.domain.events import decode_event
from pegkeeper.domain.execution import Outcome, lookup_window_passed, outcome_of
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.domain.records import DecisionRecord
from pegkeeper.services.execution.operations import OperationExecution
from pegkeeper.services.execution.orders import OrderExecution
from tests.fakes import FakeStore, FakeVenue

T0 = 1_700_000_000_000


def decision(decision_id: str) -> DecisionRecord:
    return DecisionRecord(
        decision_id, "corr", T0, "liability", "stablesats", "under-hedged-sell", "sell",
        Decimal(5), "BTC-USD-SWAP", 50_000, 0, Decimal(0), None, Decimal(10_000),
    )  # fmt: skip


def sell(client_id: str, size: int = 5) -> OrderIntent:
    return OrderIntent(
        client_id, "BTC-USD-SWAP", OrderKind.MARKET, OrderSide.SELL, Decimal(size),
        f"d-{client_id}", "corr", T0,
    )  # fmt: skip


def close(client_id: str) -> OrderIntent:
    return OrderIntent(
        client_id, "BTC-USD-SWAP", OrderKind.CLOSE_POSITION, None, Decimal(0), "d", "corr", T0
    )


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.store, self.venue, self.bus = FakeStore(), FakeVenue(), MemoryBus()
        self.events = self.bus.subscribe("*")
        self.execution = OrderExecution(
            self.store, self.venue, self.bus, self.clock, lookup_window_seconds=10
        )

    def published(self) -> list[object]:
        out = []
        while not self.events.queue.empty():
            out.append(decode_event(self.events.queue.get_nowait()[1]))
        return out


def test_outcomes_are_sorted_by_what_the_error_means() -> None:
    assert outcome_of(OrderRejected("no margin", code="51008")) is Outcome.REFUSED
    assert outcome_of(PositionAlreadyClosed("nothing to close")) is Outcome.REFUSED
    assert outcome_of(VenueUnavailable("429")) is Outcome.NOT_PROCESSED
    assert outcome_of(VenueUncertain("timeout")) is Outcome.UNCERTAIN
    assert outcome_of(RuntimeError("anything unforeseen")) is Outcome.UNCERTAIN
    assert not lookup_window_passed(T0, T0 + 9_999, 10)
    assert lookup_window_passed(T0, T0 + 10_000, 10)


async def test_a_filled_order_is_committed_first_then_published_in_order() -> None:
    world = World()
    sent = await world.execution.submit(decision("d1"), sell("o1"))
    assert (sent.outcome, sent.state) == (Outcome.ACCEPTED, OrderState.FILLED)
    assert world.store.hedge.states == [("o1", OrderState.CREATED), ("o1", OrderState.FILLED)]
    assert world.venue.size_contracts == Decimal(-5)
    kinds = [(type(e).__name__, getattr(e, "state", "")) for e in world.published()]
    assert kinds == [
        ("HedgeDecided", ""),
        ("OrderUpdated", "created"),
        ("OrderUpdated", "filled"),
    ]


async def test_an_uncertain_order_the_venue_took_is_found_at_once_and_not_resent() -> None:
    world = World()
    world.venue.accept_then_fail_next = VenueUncertain("RequestTimeout")
    sent = await world.execution.submit(decision("d1"), sell("o1"))
    assert (sent.outcome, sent.state) == (Outcome.ACCEPTED, OrderState.FILLED)
    assert len(world.venue.sent) == 1
    order = await world.store.hedge.get_order("o1")
    assert order is not None and order.message == "found by client id after: RequestTimeout"


async def test_an_uncertain_order_the_venue_never_saw_is_lost_after_the_window() -> None:
    world = World()
    world.venue.fail_next = VenueUncertain("502 Bad Gateway")
    sent = await world.execution.submit(decision("d1"), sell("o1"))
    assert (sent.outcome, sent.state) == (Outcome.UNCERTAIN, OrderState.UNKNOWN)
    (order,) = await world.store.hedge.open_orders()
    world.clock.advance(9.9)
    assert await world.execution.resolve(order) is None  # may still arrive: in flight
    world.clock.advance(0.1)
    assert await world.execution.resolve(order) is OrderState.LOST
    assert await world.store.hedge.open_orders() == []
    assert world.venue.size_contracts == 0 and len(world.venue.sent) == 1


class JumpingClock(ManualClock):
    """A time of day that an operator (or NTP) may set anywhere; the monotonic reading goes on."""

    def __init__(self, start_ms: int) -> None:
        super().__init__(start_ms)
        self.wall_offset_ms = 0

    def now_ms(self) -> int:
        return super().now_ms() + self.wall_offset_ms


async def test_an_order_left_by_a_restart_on_an_earlier_clock_is_lost_after_the_window() -> None:
    before = World()
    before.venue.fail_next = VenueUncertain("connection reset")
    await before.execution.submit(decision("d1"), sell("o1"))  # unknown at T0, then Ctrl-C
    after = World()  # the restarted process: same store, a clock an hour behind its times
    after.store, after.clock = before.store, ManualClock(T0 - 3_600_000)
    after.execution = OrderExecution(
        after.store, after.venue, after.bus, after.clock, lookup_window_seconds=10
    )
    (order,) = await after.store.hedge.open_orders()
    assert await after.execution.resolve(order) is None  # first met now: 10 s from here
    after.clock.advance(9.9)
    assert await after.execution.resolve(order) is None
    after.clock.advance(0.1)
    assert await after.execution.resolve(order) is OrderState.LOST


async def test_a_time_of_day_jumping_forward_does_not_declare_an_order_lost_early() -> None:
    world = World()
    world.clock = JumpingClock(T0)
    world.execution = OrderExecution(
        world.store, world.venue, world.bus, world.clock, lookup_window_seconds=10
    )
    world.venue.fail_next = VenueUncertain("502 Bad Gateway")
    await world.execution.submit(decision("d1"), sell("o1"))
    (order,) = await world.store.hedge.open_orders()
    world.clock.wall_offset_ms = 3_600_000  # the system clock is corrected by an hour
    world.clock.advance(5)
    assert await world.execution.resolve(order) is None  # 5 s waited, not 3 605
    world.clock.advance(5)
    assert await world.execution.resolve(order) is OrderState.LOST


@pytest.mark.parametrize(
    ("error", "state", "message"),
    [
        (OrderRejected("insufficient margin", code="51008"), OrderState.REJECTED, "insuff"),
        (VenueUnavailable("rate limit", code="50011"), OrderState.REJECTED, "not processed: "),
    ],
)
async def test_refused_and_not_processed_orders_end_rejected(
    error: Exception, state: OrderState, message: str
) -> None:
    world = World()
    world.venue.fail_next = error  # type: ignore[assignment]
    sent = await world.execution.submit(decision("d1"), sell("o1"))
    assert sent.state is state
    order = await world.store.hedge.get_order("o1")
    assert order is not None and order.message.startswith(message)


async def test_a_close_with_nothing_to_close_reached_its_goal() -> None:
    world = World()
    world.venue.fail_next = PositionAlreadyClosed("position does not exist", code="51023")
    sent = await world.execution.submit(decision("d1"), close("c1"))
    assert (sent.outcome, sent.state) == (Outcome.REFUSED, OrderState.FILLED)


async def test_a_second_order_on_a_busy_slot_is_refused_before_any_request() -> None:
    world = World()
    world.venue.fail_next = VenueUncertain("timeout")
    await world.execution.submit(decision("d1"), sell("o1"))  # unknown: the slot stays taken
    world.published()
    with pytest.raises(SlotTaken):
        await world.execution.submit(decision("d2"), sell("o2"))
    assert [i.client_order_id for i in world.venue.sent] == ["o1"]
    assert await world.store.hedge.get_order("o2") is None
    assert world.published() == []  # nothing committed, nothing announced


async def test_a_decision_on_a_slot_moved_since_it_was_read_is_refused() -> None:
    world = World()
    read = await world.store.hedge.slot_version("BTC-USD-SWAP")
    await world.execution.submit(decision("d1"), sell("o1"), slot_version=read)
    with pytest.raises(SlotTaken, match="since"):
        await world.execution.submit(decision("d2"), sell("o2"), slot_version=read)
    assert len(world.venue.sent) == 1


def operation(operation_id: str) -> CollateralOperation:
    return CollateralOperation(
        operation_id, OperationKind.TRANSFER_TO_TRADING, "BTC", Decimal("0.25"), "d", "c", T0
    )


def funding_decision() -> CollateralDecisionRecord:
    return CollateralDecisionRecord(
        "d", "c", T0, "price", "stablesats", "8", "transfer_to_trading", Decimal("0.25"), "BTC",
        50_000, -50_000, Decimal(1), Decimal(1), Decimal(10_000), None, "acted",
    )  # fmt: skip


async def test_operations_follow_the_same_rules() -> None:
    store, clock = FakeStore(), ManualClock(T0)
    execution = OperationExecution(store.funding, clock, lookup_window_seconds=30)
    op = operation("pf1")
    await execution.open(funding_decision(), op)

    async def timeout() -> OperationUpdate:
        raise VenueUncertain("timeout")

    update = await execution.send(op, timeout())
    assert (update.state, update.message) == (OperationState.UNKNOWN, "uncertain: timeout")

    async def unknown_there() -> OperationUpdate:
        raise NotFound("no such transfer")

    assert await execution.look_up(op, unknown_there()) is None  # inside the window
    clock.advance(30)
    lost = await execution.look_up(op, unknown_there())
    assert lost is not None and lost.state is OperationState.LOST
    with pytest.raises(SlotTaken):  # the unknown one still holds its account and class
        await execution.open(funding_decision(), operation("pf2"))

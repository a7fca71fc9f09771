"""Money events through the outbox, on SQLite and PostgreSQL: a unit of work in outbox mode
writes its events in its own transaction, publishes them once after the commit and marks them;
what it could not publish (the bus down, the process gone) the relay publishes later, in order,
and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.errors import SlotTaken
from pegkeeper.domain.events import (
    TOPIC_DECISION,
    TOPIC_ORDER,
    HedgeDecided,
    OrderUpdated,
    decode_event,
)
from pegkeeper.domain.orders import OrderState
from pegkeeper.domain.outbox import OutboxBacklog
from pegkeeper.ports.outbox import OutboxRepository
from pegkeeper.services.execution.orders import OrderExecution
from pegkeeper.services.outbox import Outbox, relay
from pegkeeper.services.outbox_relay import OutboxRelay, RelayFigures, RelaySettings
from pegkeeper.services.unit_of_work import UnitOfWork
from tests.fakes import FakeVenue
from tests.integration.test_store import decision, intent
from tests.outbox_support import RecordingBus

T0 = 1_700_000_000_000
ORDER = TOPIC_ORDER
NONE_WAITING = OutboxBacklog(0, None)


def outbox_unit(store: SqlStore, bus: RecordingBus, clock: ManualClock) -> UnitOfWork:
    return UnitOfWork(store, bus, outbox=Outbox(store.outbox, clock))


async def write(unit: UnitOfWork, *payloads: bytes) -> None:
    async with unit() as events:
        for payload in payloads:
            events.add(ORDER, payload)


def carried(bus: RecordingBus) -> list[bytes]:
    return [payload for _, payload in bus.carried]


async def test_an_event_of_a_unit_rolled_back_is_neither_kept_nor_published(
    store: SqlStore,
) -> None:
    bus = RecordingBus()
    unit = outbox_unit(store, bus, ManualClock(T0))
    await store.hedge.record_decision(decision("d-o1"), intent("o1"))
    with pytest.raises(SlotTaken):
        async with unit() as events:
            events.add(ORDER, b"o2 created")
            await store.hedge.record_decision(decision("d-o2"), intent("o2"))  # o1 is open
    assert await store.outbox.backlog() == NONE_WAITING
    assert await store.outbox.unpublished(10) == []
    assert bus.carried == []
    assert await store.hedge.get_order("o2") is None


async def test_a_committed_unit_publishes_its_events_once_and_marks_them(
    store: SqlStore,
) -> None:
    bus, clock = RecordingBus(), ManualClock(T0)
    subscription = bus.subscribe("hedge.*")
    async with outbox_unit(store, bus, clock)() as events:
        await store.hedge.record_decision(decision("d-o1"), intent("o1"))
        events.add("hedge.decision", b"d-o1 decided")
        events.add(ORDER, b"o1 created")
        assert bus.carried == []  # nothing before the commit
    expected = [("hedge.decision", b"d-o1 decided"), (ORDER, b"o1 created")]
    assert bus.carried == expected
    assert [subscription.queue.get_nowait() for _ in expected] == expected
    assert await store.outbox.backlog() == NONE_WAITING
    # a relay long after finds nothing left to publish
    clock.advance(60)
    assert (await relay(store, Outbox(store.outbox, clock), bus, limit=10)).published == 0
    assert bus.carried == expected
    # both rows were kept, marked at T0: the retention deletes them once past
    assert await store.outbox.delete_published_before(T0) == 0
    assert await store.outbox.delete_published_before(T0 + 1) == 2
    await subscription.close()


async def test_events_the_fast_path_could_not_publish_are_relayed_later_in_order(
    store: SqlStore,
) -> None:
    bus, clock = RecordingBus(), ManualClock(T0)
    unit = outbox_unit(store, bus, clock)
    await write(unit, b"1")  # published at once
    bus.down = True
    clock.advance(0.1)
    await write(unit, b"2", b"3")  # committed; the caller is not told the bus is down
    clock.advance(0.1)
    await write(unit, b"4")
    bus.down, bus.accept = False, 1
    await write(unit, b"5", b"6", b"7")  # the bus takes one, then goes down again
    assert carried(bus) == [b"1", b"5"]
    assert await store.outbox.backlog() == OutboxBacklog(5, T0 + 100)
    bus.down, bus.accept = False, None
    relayer = OutboxRelay(store, Outbox(store.outbox, clock), bus)
    assert await relayer.pass_once() == 0  # all of them younger than the grace
    clock.advance(1.0)  # 2, 3 written 1.1 s ago, 4 and 6, 7 one second ago: not before the grace
    assert await relayer.pass_once() == 2
    clock.advance(0.001)
    assert await relayer.pass_once() == 3
    assert carried(bus) == [b"1", b"5", b"2", b"3", b"4", b"6", b"7"]
    assert relayer.figures() == RelayFigures(
        relayed_total=5,
        backlog=0,
        oldest_age_ms=0,
        pruned_total=0,
        consecutive_failures=0,
        progress_ms=T0 + 1_201,
    )


def described(message: tuple[str, bytes]) -> tuple[str, str]:
    event = decode_event(message[1])
    assert isinstance(event, HedgeDecided | OrderUpdated)
    return message[0], event.decision_id if isinstance(event, HedgeDecided) else event.state


async def test_an_order_goes_out_while_the_bus_is_down_and_its_events_follow(
    store: SqlStore,
) -> None:
    bus, clock, venue = RecordingBus(), ManualClock(T0), FakeVenue()
    outbox = Outbox(store.outbox, clock)
    execution = OrderExecution(store, venue, bus, clock, lookup_window_seconds=10, outbox=outbox)
    bus.down = True
    sent = await execution.submit(decision("d-o1"), intent("o1"))
    assert [i.client_order_id for i in venue.sent] == ["o1"] and sent.state is OrderState.FILLED
    expected = [(TOPIC_DECISION, "d-o1"), (ORDER, "created"), (ORDER, "filled")]
    waiting = await store.outbox.unpublished(10)
    assert [described((e.topic, e.payload)) for e in waiting] == expected
    bus.down = False
    clock.advance(2)
    assert await OutboxRelay(store, outbox, bus).pass_once() == 3
    assert [described(message) for message in bus.carried] == expected


class MarkFails:
    """The store's outbox, whose marking fails as a crash before the commit would."""

    def __init__(self, entries: OutboxRepository) -> None:
        self.entries = entries
        self.unpublished = entries.unpublished
        self.add = entries.add
        self.delete_published_before = entries.delete_published_before
        self.backlog = entries.backlog

    async def mark_published(self, ids: Sequence[int], now_ms: int) -> int:
        await self.entries.mark_published(ids, now_ms)
        raise ConnectionResetError("the process died before the commit")


async def test_a_pass_that_dies_before_its_commit_publishes_again(store: SqlStore) -> None:
    bus, clock = RecordingBus(), ManualClock(T0)
    for payload in (b"a", b"b"):
        await store.outbox.add(ORDER, payload, T0)
    with pytest.raises(ConnectionResetError):
        await relay(store, Outbox(MarkFails(store.outbox), clock), bus, limit=10)
    assert await store.outbox.backlog() == OutboxBacklog(2, T0)  # the marks rolled back
    outcome = await relay(store, Outbox(store.outbox, clock), bus, limit=10)
    assert outcome.published == 2 and outcome.error is None
    assert carried(bus) == [b"a", b"b", b"a", b"b"]  # at least once
    assert await store.outbox.backlog() == NONE_WAITING


async def until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline:
        if condition():
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


async def test_the_relay_runs_until_cancelled_prunes_and_stalls_while_the_bus_is_down(
    store: SqlStore,
) -> None:
    bus, clock = RecordingBus(), ManualClock(T0)
    settings = RelaySettings(grace_seconds=0.0, retention_seconds=10.0, prune_interval_seconds=5)
    relayer = OutboxRelay(store, Outbox(store.outbox, clock), bus, settings)
    relayed = await store.outbox.add(ORDER, b"relayed before", T0 - 20_000)
    await store.outbox.mark_published([relayed], T0 - 11_000)
    await store.outbox.add(ORDER, b"waiting", T0 - 1)
    task = asyncio.create_task(relayer.run())
    try:
        await until(lambda: relayer.progress_ms == T0, "the first pass, at start")
        assert carried(bus) == [b"waiting"]
        assert (relayer.relayed_total, relayer.pruned_total) == (1, 1)
        bus.down = True
        await store.outbox.add(ORDER, b"while down", T0 - 1)
        clock.advance(0.5)  # the periodic pass
        await until(lambda: relayer.consecutive_failures == 1, "a failed pass")
        assert relayer.progress_ms == T0  # no progress while the bus refuses
        assert (relayer.backlog, relayer.oldest_age_ms) == (OutboxBacklog(1, T0 - 1), 501)
        bus.down = False
        relayer.wake()
        await until(lambda: relayer.progress_ms == T0 + 500, "the pass woken")
        assert carried(bus) == [b"waiting", b"while down"]
        assert relayer.figures() == RelayFigures(2, 0, 0, 1, 0, T0 + 500)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

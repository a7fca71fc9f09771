"""Money events through the outbox, on SQLite and PostgreSQL: a unit of work in outbox mode
writes its events in its own transaction, publishes them once after the commit and marks them;
a pass that dies before its commit leaves them to be published again."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.errors import SlotTaken
from pegkeeper.domain.outbox import OutboxBacklog
from pegkeeper.ports.outbox import OutboxRepository
from pegkeeper.services.outbox import Outbox, relay
from pegkeeper.services.unit_of_work import UnitOfWork
from tests.integration.test_store import decision, intent
from tests.outbox_support import RecordingBus

T0 = 1_700_000_000_000
ORDER = "hedge.order"
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

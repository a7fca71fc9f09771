"""The outbox table on SQLite and PostgreSQL: events come back oldest first until marked, a
write joins the open unit of work, the retention deletes only what was relayed, and two relays
at once (two processes, each with its own connections) publish every event once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.adapters.store.outbox_tables import OUTBOX_TABLES
from pegkeeper.domain.outbox import OutboxBacklog, OutboxEntry
from pegkeeper.services.outbox import Outbox
from pegkeeper.services.outbox_relay import OutboxRelay, RelaySettings
from tests.integration.store.schema_support import downgrade_and_upgrade, schema_differences
from tests.outbox_support import PausingBus

T0 = 1_700_000_000_000
ORDER = "hedge.order"


async def test_events_come_back_oldest_first_until_marked(store: SqlStore) -> None:
    box = store.outbox
    payloads = [bytes([n, 0, 255]) + f"event {n}".encode() for n in range(5)]
    ids = [await box.add(ORDER, payload, T0 + 10 * n) for n, payload in enumerate(payloads)]
    assert len(set(ids)) == 5 and ids == sorted(ids)
    assert await box.unpublished(3) == [
        OutboxEntry(ids[n], ORDER, payloads[n], T0 + 10 * n) for n in range(3)
    ]
    assert await box.backlog() == OutboxBacklog(5, T0)
    assert await box.mark_published([ids[0], ids[2]], T0 + 100) == 2
    assert await box.mark_published([ids[0], ids[1]], T0 + 200) == 1  # ids[0] was marked
    assert await box.mark_published([], T0 + 300) == 0
    assert [e.id for e in await box.unpublished(10)] == ids[3:]
    # written before T0 + 40: only ids[3] of those left
    assert [e.id for e in await box.unpublished(10, created_before_ms=T0 + 40)] == [ids[3]]
    assert [e.id for e in await box.unpublished(10, ids=[ids[0], ids[4]])] == [ids[4]]
    assert await box.backlog() == OutboxBacklog(2, T0 + 30)


async def test_a_write_joins_the_open_unit_of_work(store: SqlStore) -> None:
    class Refused(Exception):
        pass

    with pytest.raises(Refused):
        async with store.transaction():
            await store.outbox.add(ORDER, b"rolled back", T0)
            assert await store.outbox.backlog() == OutboxBacklog(1, T0)  # seen inside
            raise Refused
    assert await store.outbox.backlog() == OutboxBacklog(0, None)
    async with store.transaction():
        kept = await store.outbox.add(ORDER, b"kept", T0 + 1)
    assert await store.outbox.unpublished(10) == [OutboxEntry(kept, ORDER, b"kept", T0 + 1)]


async def test_the_retention_deletes_only_relayed_events_older_than_the_cutoff(
    store: SqlStore,
) -> None:
    box = store.outbox
    early, late, waiting = [await box.add(ORDER, b"x", T0) for _ in range(3)]
    await box.mark_published([early], T0 + 1_000)
    await box.mark_published([late], T0 + 5_000)
    assert await box.delete_published_before(T0 + 5_000) == 1  # `late` is not before it
    assert await box.delete_published_before(T0 + 5_001) == 1
    assert await box.delete_published_before(T0 + 10**12) == 0
    # the one never relayed, older than both, is still there
    assert [e.id for e in await box.unpublished(10)] == [waiting]
    assert await box.mark_published([early, late], T0 + 6_000) == 0  # gone


EVENTS = 120


async def test_two_relays_at_once_publish_each_event_once(database_url: str) -> None:
    """Each relay has its own store (its own engine and connections), as two processes would
    during a lease handover; the buses pause at every message so that the passes interleave."""
    stores = [await open_store(database_url) for _ in range(2)]
    try:
        payloads = [f"event {n}".encode() for n in range(EVENTS)]
        for payload in payloads:
            await stores[0].outbox.add(ORDER, payload, T0)
        counts: Counter[bytes] = Counter()
        clock = ManualClock(T0 + 5_000)
        settings = RelaySettings(grace_seconds=1.0, batch_size=7)
        relays = [
            OutboxRelay(store, Outbox(store.outbox, clock), PausingBus(counts, seed), settings)
            for seed, store in enumerate(stores)
        ]
        relayed = await asyncio.gather(*(relay.pass_once() for relay in relays))
        assert counts == Counter(payloads)  # every event, once
        assert sum(relayed) == EVENTS
        assert await stores[1].outbox.backlog() == OutboxBacklog(0, None)
    finally:
        for store in stores:
            await store.close()


async def test_the_migration_creates_the_outbox_as_declared_and_downgrades(
    store: SqlStore,
) -> None:
    async with store.engine.begin() as conn:
        assert await conn.run_sync(schema_differences, OUTBOX_TABLES) == []
        without, again = await conn.run_sync(downgrade_and_upgrade, "0014")
    assert "outbox" not in without and "outbox" in again

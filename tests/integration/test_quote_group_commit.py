"""New quotes committed in groups, against real SQLite and PostgreSQL databases: every caller
gets its own quote committed, a batch that fails fails every caller in it and stores nothing."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.adapters.store.quote_batch import QuoteBatcher
from pegkeeper.adapters.store.quote_repo import store_quotes
from pegkeeper.domain.leases import Lease, LeaseLost
from pegkeeper.domain.quote_math import Direction
from pegkeeper.domain.quotes import Quote
from tests.integration.store.fencing_support import HeldLease, as_holder
from tests.integration.test_quote_store import quote


def quotes(count: int, **overrides: object) -> list[Quote]:
    return [
        quote(
            str(uuid.UUID(int=i + 1)),
            amount_sats=1_000 + i,
            amount_cents=10 + i,
            created_at_ms=5_000 + i,
            **overrides,
        )
        for i in range(count)
    ]


def batcher(store: SqlStore) -> QuoteBatcher:
    return QuoteBatcher(lambda batch: store_quotes(store._tx, batch))


async def test_concurrent_quotes_share_one_transaction_and_each_is_stored(
    store: SqlStore,
) -> None:
    group = batcher(store)
    wanted = quotes(40, direction=Direction.SELL)

    results = await asyncio.gather(*(group.create(q) for q in wanted))

    assert results == [None] * 40
    # Every caller queued before the first commit began: one transaction holds them all.
    assert group.batches == 1
    for q in wanted:
        assert await store.quotes.get(q.quote_id) == q
        assert await store.quotes.events(q.quote_id) == [("created", q.created_at_ms)]


async def test_a_batch_is_one_transaction_in_the_database(store: SqlStore) -> None:
    wanted = quotes(25, fee_cents=Decimal("0.000001"), accepted_at_ms=None)

    await store_quotes(store._tx, wanted)

    for q in wanted:
        assert await store.quotes.get(q.quote_id) == q
        assert await store.quotes.events(q.quote_id) == [("created", q.created_at_ms)]
    if store.engine.dialect.name == "postgresql":  # xmin: the transaction that wrote a row
        writers = [await distinct_xmin(store, table) for table in ("quotes", "quote_events")]
        assert writers[0] == writers[1]
        assert len(writers[0]) == 1


async def distinct_xmin(store: SqlStore, table: str) -> list[str]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT DISTINCT xmin::text FROM {table}"))
        return [row[0] for row in rows]


async def test_a_batch_stored_inside_a_unit_of_work_is_rolled_back_with_it(
    store: SqlStore,
) -> None:
    wanted = quotes(3)

    with pytest.raises(RuntimeError, match="abandoned"):
        async with store.transaction():
            await store_quotes(store._tx, wanted)
            assert await store.quotes.get(wanted[0].quote_id) == wanted[0]  # the unit's own read
            raise RuntimeError("abandoned")

    for q in wanted:
        assert await store.quotes.get(q.quote_id) is None
        assert await store.quotes.events(q.quote_id) == []


async def test_a_batch_stored_under_a_lost_lease_is_refused_whole(store: SqlStore) -> None:
    held = await store.leases.acquire("quotes-test", "host-a:1", 60_000)
    assert held is not None
    other = Lease(held.name, "host-b:2", held.epoch, held.expires_at_ms)  # not its holder
    wanted = quotes(3)

    with pytest.raises(LeaseLost):
        await as_holder(HeldLease(other), lambda: store_quotes(store._tx, wanted))

    for q in wanted:
        assert await store.quotes.get(q.quote_id) is None


async def test_quotes_asked_during_a_commit_go_in_the_next_one(store: SqlStore) -> None:
    group = batcher(store)
    first, *later = quotes(11)
    committing = asyncio.create_task(group.create(first))
    await asyncio.sleep(0)  # the first batch (one quote) is on its way

    await asyncio.gather(committing, *(group.create(q) for q in later))

    assert group.batches == 2
    for q in [first, *later]:
        assert await store.quotes.get(q.quote_id) == q


async def test_a_failed_batch_fails_every_caller_and_writes_nothing(store: SqlStore) -> None:
    group = batcher(store)
    taken = quote(str(uuid.UUID(int=99)))
    await group.create(taken)
    wanted = quotes(5)
    duplicate = quote(taken.quote_id, amount_sats=7)  # the unique quote id refuses the batch

    results = await asyncio.gather(
        *(group.create(q) for q in [*wanted, duplicate]), return_exceptions=True
    )

    assert all(isinstance(r, IntegrityError) for r in results), results
    for q in wanted:
        assert await store.quotes.get(q.quote_id) is None
        assert await store.quotes.events(q.quote_id) == []
    assert await store.quotes.get(taken.quote_id) == taken
    later = quote(str(uuid.UUID(int=100)))
    await group.create(later)  # the next batch is unaffected
    assert await store.quotes.get(later.quote_id) == later


async def test_a_cancelled_caller_leaves_the_others_and_its_quote_committed(
    store: SqlStore,
) -> None:
    group = batcher(store)
    wanted = quotes(6)
    tasks = [asyncio.create_task(group.create(q)) for q in wanted]
    await asyncio.sleep(0)
    tasks[2].cancel()

    results = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(results[2], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 2] == [None] * 5
    for q in wanted:
        assert await store.quotes.get(q.quote_id) == q


async def test_a_quote_created_inside_a_unit_of_work_is_rolled_back_with_it(
    store: SqlStore,
) -> None:
    inside = quote(str(uuid.UUID(int=7)))

    with pytest.raises(RuntimeError, match="abandoned"):
        async with store.transaction():
            await store.quotes.create(inside)
            raise RuntimeError("abandoned")

    assert await store.quotes.get(inside.quote_id) is None


async def test_quotes_through_the_repository_are_readable_by_another_store(
    database_url: str,
) -> None:
    # Two stores stand for two replicas: a quote one of them returned is committed for both.
    first = await open_store(database_url)
    second = await open_store(database_url, migrate=False)
    try:
        wanted = quotes(20)
        await asyncio.gather(*(first.quotes.create(q) for q in wanted))
        for q in wanted:
            assert await second.quotes.get(q.quote_id) == q
    finally:
        await first.close()
        await second.close()

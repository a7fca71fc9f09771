"""The outbox as the store keeps it (ports.outbox): one row per event, marked once relayed.

How a row is relayed (services/outbox.py): inside one transaction the oldest unpublished rows
are read and claimed, published on the bus, then marked; the commit ends the claim.

- On PostgreSQL the read is `SELECT ... FOR UPDATE SKIP LOCKED`: a second relay (two processes
  during a lease handover, or a unit of work's fast path beside the relay) skips the rows the
  first one holds, so no row is published by two at once. The rows stay locked while the bus is
  called; only the outbox's rows wait on that, never a money row, and it is the simplest form
  that keeps two relays apart.
- On SQLite a unit of work holds the database's write lock, which serializes relays anyway.
- A crash after the publish and before the commit leaves the rows unmarked, and they are
  published again: delivery is at least once, and consumers are level-triggered.
- Ids come from a sequence, taken at insert time, so a row committed later may carry a lower id
  than one already relayed: the order is the order of writing, kept within each relay pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, delete, func, insert, select, update

from pegkeeper.adapters.store.outbox_tables import outbox as t
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.domain.outbox import OutboxBacklog, OutboxEntry

_UNPUBLISHED = t.c.published_at_ms.is_(None)


class SqlOutboxRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def add(self, topic: str, payload: bytes, now_ms: int) -> int:
        statement = (
            insert(t)
            .values(topic=topic, payload=payload, created_at_ms=now_ms, published_at_ms=None)
            .returning(t.c.id)
        )
        async with self._tx.write() as conn:
            return int((await conn.execute(statement)).scalar_one())

    async def unpublished(
        self,
        limit: int,
        *,
        created_before_ms: int | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[OutboxEntry]:
        query = _oldest_unpublished(limit, created_before_ms, ids)
        async with self._tx.read() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = (await conn.execute(query)).all()
        return [OutboxEntry(r.id, r.topic, bytes(r.payload), r.created_at_ms) for r in rows]

    async def mark_published(self, ids: Sequence[int], now_ms: int) -> int:
        if not ids:
            return 0
        statement = update(t).where(t.c.id.in_(ids), _UNPUBLISHED).values(published_at_ms=now_ms)
        async with self._tx.write() as conn:
            return (await conn.execute(statement)).rowcount

    async def delete_published_before(self, cutoff_ms: int) -> int:
        statement = delete(t).where(t.c.published_at_ms < cutoff_ms)  # NULL never compares
        async with self._tx.write() as conn:
            return (await conn.execute(statement)).rowcount

    async def backlog(self) -> OutboxBacklog:
        query = select(func.count(), func.min(t.c.created_at_ms)).where(_UNPUBLISHED)
        async with self._tx.read() as conn:
            count, oldest = (await conn.execute(query)).one()
        return OutboxBacklog(int(count), None if oldest is None else int(oldest))


def _oldest_unpublished(
    limit: int, created_before_ms: int | None, ids: Sequence[int] | None
) -> Select[tuple[int, str, bytes, int]]:
    query = (
        select(t.c.id, t.c.topic, t.c.payload, t.c.created_at_ms)
        .where(_UNPUBLISHED)
        .order_by(t.c.id)
        .limit(limit)
    )
    if created_before_ms is not None:
        query = query.where(t.c.created_at_ms < created_before_ms)
    if ids is not None:
        query = query.where(t.c.id.in_(ids))
    return query

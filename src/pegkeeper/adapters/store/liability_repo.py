"""The liability ledger in SQL: one row per change, numbered 1, 2, 3... without gaps."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Row, bindparam, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.adapters.store.tables import liability_events as t
from pegkeeper.domain.liability import LedgerEntry, LiabilityChange, LiabilityEvent, next_event

_MAX_ATTEMPTS = 50
T = TypeVar("T")
# Work done in one ledger transaction: (connection, seq that collided last time or None).
LedgerWork = Callable[[AsyncConnection, int | None], Awaitable[T]]

# One round trip: the row with this event id (if any) and the last row of the ledger.
_PROBE = select(t).where(
    or_(
        t.c.event_id == bindparam("event_id"),
        t.c.seq == select(func.max(t.c.seq)).scalar_subquery(),
    )
)
_INSERT = insert(t)
_BY_ID = select(t).where(t.c.event_id == bindparam("event_id"))
_BALANCE = select(t.c.balance_after_cents).order_by(t.c.seq.desc()).limit(1)
_RECENT = select(t).order_by(t.c.seq.desc()).limit(bindparam("limit"))


class _SeqTaken(Exception):
    """Another writer inserted the row this one meant to insert first."""

    def __init__(self, seq: int) -> None:
        self.seq = seq


class SqlLiabilityRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx
        # Writers in this process queue here; writers in other processes collide on the
        # unique seq and retry.
        self._append_lock = asyncio.Lock()

    async def append(
        self, change: LiabilityChange, correlation_id: str, now_ms: int
    ) -> tuple[LiabilityEvent, bool]:
        entry = LedgerEntry(change, correlation_id, now_ms)
        return await self.write_with_ledger(
            lambda conn, failed_seq: self.append_in(conn, entry, failed_seq)
        )

    async def write_with_ledger(self, work: LedgerWork[T]) -> T:
        """Run `work` in a write transaction that may append to the ledger with `append_in`.

        Another writer may take the next seq first; then the whole transaction is rolled back
        and `work` runs again, so it must do nothing outside the transaction it is given.
        """
        async with self._append_lock:
            failed_seq: int | None = None
            for _ in range(_MAX_ATTEMPTS):
                try:
                    async with self._tx.write() as conn:
                        return await work(conn, failed_seq)
                except _SeqTaken as taken:
                    failed_seq = taken.seq
                    await asyncio.sleep(random.uniform(0, 0.002))
        raise RuntimeError(
            f"ledger write not done after {_MAX_ATTEMPTS} attempts against concurrent writers; "
            "nothing was written, the request can be retried"
        )

    async def append_in(
        self, conn: AsyncConnection, entry: LedgerEntry, failed_seq: int | None
    ) -> tuple[LiabilityEvent, bool]:
        """Append within `conn`'s transaction (one opened by `write_with_ledger`)."""
        change = entry.change
        existing, last = _split_probe(
            (await conn.execute(_PROBE, {"event_id": change.event_id})).all(), change.event_id
        )
        event, created = next_event(last, existing, entry)
        if not created:
            return event, False
        seq = event.seq
        try:
            await conn.execute(_INSERT, _event_params(event))
        except IntegrityError:
            if seq == failed_seq:
                raise  # the ledger did not move since the last collision: not a race
            raise _SeqTaken(seq) from None
        return event, True

    async def balance_cents(self) -> int:
        async with self._tx.read() as conn:
            balance = (await conn.execute(_BALANCE)).scalar_one_or_none()
        return int(balance) if balance is not None else 0

    async def get(self, event_id: str) -> LiabilityEvent | None:
        async with self._tx.read() as conn:
            row = (await conn.execute(_BY_ID, {"event_id": event_id})).one_or_none()
        return _event(row) if row is not None else None

    async def recent(self, limit: int) -> list[LiabilityEvent]:
        if limit <= 0:
            return []
        async with self._tx.read() as conn:
            rows = (await conn.execute(_RECENT, {"limit": limit})).all()
        return [_event(row) for row in rows]


def _split_probe(
    rows: Sequence[Row[Any]], event_id: str
) -> tuple[LiabilityEvent | None, LiabilityEvent | None]:
    existing = last = None
    for row in rows:
        event = _event(row)
        if event.event_id == event_id:
            existing = event
        if last is None or event.seq > last.seq:
            last = event
    return existing, last


def _event_params(event: LiabilityEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "event_id": event.event_id,
        "delta_cents": event.delta_cents,
        "balance_after_cents": event.balance_after_cents,
        "memo": event.memo,
        "source": event.source,
        "correlation_id": event.correlation_id,
        "created_at_ms": event.created_at_ms,
    }


def _event(row: Row[Any]) -> LiabilityEvent:
    return LiabilityEvent(
        seq=row.seq,
        event_id=row.event_id,
        delta_cents=row.delta_cents,
        balance_after_cents=row.balance_after_cents,
        memo=row.memo,
        source=row.source,
        correlation_id=row.correlation_id,
        created_at_ms=row.created_at_ms,
    )

"""How far each polled ledger source has read, and whether it is healthy: one row per source."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store.ledger_tables import ledger_sources as t
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.domain.ledger_sync import SourceState

MAX_ERROR_CHARS = 2000


class SqlLedgerStateRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def get(self, source: str) -> SourceState | None:
        async with self._tx.read() as conn:
            row = (await conn.execute(select(t).where(t.c.source == source))).one_or_none()
        if row is None:
            return None
        return SourceState(
            source=row.source,
            cursor=row.cursor,
            has_more=bool(row.has_more),
            last_poll_ms=row.last_poll_ms,
            last_error=row.last_error,
            stopped=bool(row.stopped),
            updated_at_ms=row.updated_at_ms,
            failed_polls=row.failed_polls,
        )

    async def record_start(self, source: str, now_ms: int) -> None:
        async with self._tx.write() as conn:
            await upsert_source(conn, source, now_ms, stopped=False)

    async def record_success(self, source: str, now_ms: int, *, has_more: bool = False) -> None:
        async with self._tx.write() as conn:
            await upsert_source(
                conn,
                source,
                now_ms,
                last_poll_ms=now_ms,
                last_error="",
                has_more=has_more,
                failed_polls=0,
            )

    async def record_failure(self, source: str, now_ms: int, error: str, *, stopped: bool) -> None:
        async with self._tx.write() as conn:
            failed = await conn.scalar(select(t.c.failed_polls).where(t.c.source == source))
            await upsert_source(
                conn,
                source,
                now_ms,
                last_error=error[:MAX_ERROR_CHARS],
                stopped=stopped,
                failed_polls=(failed or 0) + 1,
            )


async def upsert_source(conn: AsyncConnection, source: str, now_ms: int, **values: Any) -> None:
    """Set `values` on the source's row, creating it first if needed (in `conn`'s transaction)."""
    values["updated_at_ms"] = now_ms
    changed = await conn.execute(update(t).where(t.c.source == source).values(**values))
    if changed.rowcount == 0:
        row = {"source": source, "has_more": False, "last_error": "", "stopped": False}
        await conn.execute(insert(t).values({**row, **values}))

"""Peg statistics in SQL: raw rows, and 1-minute rows once they are older than the retention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, select, union_all

from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.adapters.store.tables import peg_stats, peg_stats_1m
from pegkeeper.domain.records import PegStatsRow

MINUTE_MS = 60_000
_COLUMNS = [c.name for c in peg_stats.c if c.name != "id"]


class SqlPegRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def record(self, rows: Sequence[PegStatsRow]) -> None:
        if rows:
            async with self._tx.write() as conn:
                await conn.execute(insert(peg_stats), [asdict(r) for r in rows])

    async def history(
        self, symbol: str, since_ms: int, until_ms: int, max_points: int
    ) -> list[PegStatsRow]:
        selects = [
            select(*(table.c[name] for name in _COLUMNS)).where(
                and_(
                    table.c.symbol == symbol,
                    table.c.ts_ms >= since_ms,
                    table.c.ts_ms <= until_ms,
                )
            )
            for table in (peg_stats_1m, peg_stats)
        ]
        statement = union_all(*selects).order_by("ts_ms")
        async with self._tx.read() as conn:
            rows = (await conn.execute(statement)).all()
        return [_row(r) for r in _thin(rows, max_points)]

    async def downsample(self, older_than_ms: int) -> int:
        cutoff_ms = older_than_ms - older_than_ms % MINUTE_MS  # whole minutes only
        minute = peg_stats.c.ts_ms // MINUTE_MS
        last_of_each_minute = (
            select(func.max(peg_stats.c.id))
            .where(peg_stats.c.ts_ms < cutoff_ms)
            .group_by(peg_stats.c.symbol, minute)
        )
        copy = insert(peg_stats_1m).from_select(
            _COLUMNS,
            select(*(peg_stats.c[name] for name in _COLUMNS)).where(
                peg_stats.c.id.in_(last_of_each_minute)
            ),
        )
        async with self._tx.write() as conn:
            written = (await conn.execute(copy)).rowcount
            await conn.execute(delete(peg_stats).where(peg_stats.c.ts_ms < cutoff_ms))
        return int(written or 0)


def _thin(rows: Sequence[Row[Any]], max_points: int) -> Sequence[Row[Any]]:
    if len(rows) <= max_points:
        return rows
    step = len(rows) / max_points
    picked = [rows[int(i * step)] for i in range(max_points - 1)]
    return [*picked, rows[-1]]  # always end on the newest


def _row(row: Row[Any]) -> PegStatsRow:
    return PegStatsRow(**row._asdict())

"""Peg statistics in the store: history, thinning, and downsampling to minutes (both backends)."""

from __future__ import annotations

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.records import PegStatsRow

T0 = 1_678_492_800_000  # a whole minute


def row(ts_ms: int, price: float, symbol: str = "USDC") -> PegStatsRow:
    return PegStatsRow(symbol, ts_ms, price, None, price, 0.1, 0.2, 0.3, 1.0, 2.0, 3.0, 2.0)


async def test_history_is_ordered_windowed_and_thinned(store: SqlStore) -> None:
    await store.pegs.record([row(T0 + i * 1000, 1 - i / 1000) for i in range(10)])
    await store.pegs.record([row(T0, 5.0, symbol="USDT")])
    rows = await store.pegs.history("USDC", T0 + 2000, T0 + 7000, 100)
    assert [r.ts_ms - T0 for r in rows] == [2000, 3000, 4000, 5000, 6000, 7000]
    assert rows[0] == row(T0 + 2000, 0.998)
    thinned = await store.pegs.history("USDC", T0, T0 + 9000, 4)
    # 10 rows to 4: indexes 0, 2.5 -> 2, 5, then always the newest (9)
    assert [r.ts_ms - T0 for r in thinned] == [0, 2000, 5000, 9000]


async def test_downsampling_keeps_the_last_row_of_each_whole_minute(store: SqlStore) -> None:
    # minute 0: rows at 0 s and 30 s; minute 1: 70 s; minute 2 (not yet whole): 125 s
    await store.pegs.record([row(T0 + s * 1000, 1 + s / 1000) for s in (0, 30, 70, 125)])
    written = await store.pegs.downsample(T0 + 130_000)  # cut at the start of minute 2
    assert written == 2
    rows = await store.pegs.history("USDC", T0, T0 + 200_000, 100)
    assert [(r.ts_ms - T0, r.price) for r in rows] == [
        (30_000, 1.03),
        (70_000, 1.07),
        (125_000, 1.125),
    ]
    assert await store.pegs.downsample(T0 + 130_000) == 0  # nothing left to fold

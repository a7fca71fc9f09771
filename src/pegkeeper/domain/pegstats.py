"""Peg statistics (specs/market-data.md): rmse, population stdev, drawdown and their scores.

Over a window of the last N prices, or of the prices in the last `span_ms` milliseconds, or both.
`PegWindow.push` costs O(1) amortized, and so does reading the statistics:

- rmse and stdev come from running sums of p and p^2 kept as exact integers (each float price is
  scaled by 2^128, which is exact for any price above 2^-76), so additions and evictions never
  accumulate rounding error and nothing needs a periodic recompute; the final division is
  correctly rounded.
- drawdown = max over i <= j of (p_i - p_j), which is the spec's "running maximum minus p" taken
  oldest first. The triple (max, min, drawdown) of a segment combines associatively
  (dd = max(dd_left, dd_right, max_left - min_right)), so the window is a two-stack queue of those
  aggregates: each price is pushed once, moved once and popped once.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

RMSE_SCALE = 0.025
STDEV_SCALE = 0.005
DRAWDOWN_SCALE = 0.01
MAX_SCORE = 10.0
REFERENCE_TICKS = 1000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS

_SHIFT = 128  # fractional bits of the fixed-point sums


@dataclass(frozen=True, slots=True)
class PegStats:
    count: int
    price: float  # the newest price in the window
    rmse: float
    stdev: float
    drawdown: float
    rmse_score: float
    stdev_score: float
    drawdown_score: float
    score: float


def clamped_score(measure: float, scale: float) -> float:
    """10 * max(0, 1 - measure / scale), clamped to [0, 10]."""
    return min(MAX_SCORE, max(0.0, MAX_SCORE * (1.0 - measure / scale)))


def make_stats(count: int, price: float, rmse: float, stdev: float, drawdown: float) -> PegStats:
    rmse_score = clamped_score(rmse, RMSE_SCALE)
    stdev_score = clamped_score(stdev, STDEV_SCALE)
    drawdown_score = clamped_score(drawdown, DRAWDOWN_SCALE)
    return PegStats(
        count=count,
        price=price,
        rmse=rmse,
        stdev=stdev,
        drawdown=drawdown,
        rmse_score=rmse_score,
        stdev_score=stdev_score,
        drawdown_score=drawdown_score,
        score=(rmse_score + stdev_score + drawdown_score) / 3.0,
    )


def peg_stats(prices: Iterable[float], peg: float = 1.0) -> PegStats:
    """The statistics of a whole sequence (oldest first) in one O(n) pass."""
    window = PegWindow(peg=peg)
    stats: PegStats | None = None
    for p in prices:
        stats = window.push(p)
    if stats is None:
        raise ValueError("no prices")
    return stats


def _fixed(price: float) -> int:
    return round(math.ldexp(price, _SHIFT))


# (max, min, drawdown) of a run of prices, oldest first.
_Agg = tuple[float, float, float]


def _combine(older: _Agg, newer: _Agg) -> _Agg:
    hi = older[0] if older[0] >= newer[0] else newer[0]
    lo = older[1] if older[1] <= newer[1] else newer[1]
    dd = older[2] if older[2] >= newer[2] else newer[2]
    cross = older[0] - newer[1]
    return hi, lo, dd if dd >= cross else cross


class PegWindow:
    """A sliding window of prices: at most `max_count` of them and/or only those with
    `time_ms > newest_time_ms - span_ms`. With neither limit it keeps everything."""

    __slots__ = (
        "_back",
        "_back_agg",
        "_front",
        "_items",
        "_peg_fixed",
        "_sum",
        "_sum_sq",
        "max_count",
        "peg",
        "span_ms",
    )

    def __init__(
        self, *, max_count: int | None = None, span_ms: int | None = None, peg: float = 1.0
    ) -> None:
        if max_count is not None and max_count < 1:
            raise ValueError("max_count must be at least 1")
        if span_ms is not None and span_ms < 1:
            raise ValueError("span_ms must be at least 1")
        self.max_count = max_count
        self.span_ms = span_ms
        self.peg = peg
        self._peg_fixed = _fixed(peg)
        self._items: deque[tuple[int, float, int]] = deque()  # (time_ms, price, fixed price)
        self._sum = 0
        self._sum_sq = 0
        # Two-stack queue: _front holds, for each of the oldest prices, the aggregate from it to
        # the end of _front (top of stack = oldest); _back holds the newer prices and _back_agg
        # their aggregate.
        self._front: list[_Agg] = []
        self._back: list[float] = []
        self._back_agg: _Agg | None = None

    def __len__(self) -> int:
        return len(self._items)

    def push(self, price: float, time_ms: int = 0) -> PegStats:
        """Add the newest price (times must not go backwards) and return the window's stats."""
        if not math.isfinite(price):
            raise ValueError(f"price must be finite: {price!r}")
        items = self._items
        if items and time_ms < items[-1][0]:
            raise ValueError(f"time went backwards: {time_ms} < {items[-1][0]}")
        fixed = _fixed(price)
        items.append((time_ms, price, fixed))
        self._sum += fixed
        self._sum_sq += fixed * fixed
        self._back.append(price)
        single = (price, price, 0.0)
        self._back_agg = single if self._back_agg is None else _combine(self._back_agg, single)
        if self.max_count is not None:
            while len(items) > self.max_count:
                self._pop_oldest()
        if self.span_ms is not None:
            horizon = time_ms - self.span_ms
            while items[0][0] <= horizon:
                self._pop_oldest()
        return self.stats()

    def _pop_oldest(self) -> None:
        _, _, fixed = self._items.popleft()
        self._sum -= fixed
        self._sum_sq -= fixed * fixed
        front = self._front
        if not front:
            back = self._back
            agg: _Agg | None = None
            for p in reversed(back):
                single = (p, p, 0.0)
                agg = single if agg is None else _combine(single, agg)
                front.append(agg)
            back.clear()
            self._back_agg = None
        front.pop()

    def drawdown(self) -> float:
        front = self._front
        back_agg = self._back_agg
        if front and back_agg is not None:
            return _combine(front[-1], back_agg)[2]
        if front:
            return front[-1][2]
        return back_agg[2] if back_agg is not None else 0.0

    def stats(self) -> PegStats:
        n = len(self._items)
        if n == 0:
            raise ValueError("empty window")
        s1 = self._sum
        s2 = self._sum_sq
        c = self._peg_fixed
        denominator = n << (2 * _SHIFT)
        # n * sum((p - mean)^2) = n * s2 - s1^2 ; sum((p - peg)^2) = s2 - 2 c s1 + n c^2
        variance = (n * s2 - s1 * s1) / (n * denominator)
        mse = (s2 - 2 * c * s1 + n * c * c) / denominator
        return make_stats(
            count=n,
            price=self._items[-1][1],
            rmse=math.sqrt(mse),
            stdev=math.sqrt(variance),
            drawdown=self.drawdown(),
        )

"""What a backtest measures, and how.

The dealer's book is followed in a shadow account, in floats (these are statistics, not
money): the BTC it holds for its users (K: every user purchase of X USD at the mark P brings
X / P BTC, every sale takes it back) and the hedge's P&L with every fill booked at the mark of
that moment (H). The hedged value is (K + H) * P for the inverse swap (K * P + H for a linear
one, whose P&L is in USD); the **tracking error** is that value less the liability. It is zero
at the start, it stays zero while the short equals the liability whatever the price does, and
it moves with the price on the part of the liability left unhedged (or hedged twice). In % it
is taken of the average liability of the run (a liability that users drain to almost nothing
would make a share of the current one meaningless). Between
events the state is constant, so the runner records it only when something changes (a flow,
a fill, a funding payment, a transfer) and the series over every tick is computed at the end.

Costs are separate from the tracking error, each converted to USD when it happens: fees;
funding (paid less received); the basis of dated futures (backtest/basis_book.py: a future is
in the tracking error as the same contracts at spot, its basis is a carry beside funding);
slippage (a taker's fill against the mark at its moment: the spread and the depth walked; a
maker's fill is booked at its own price, as the market traded through it, so it has none);
transfer and withdrawal fees. The latency between a decision and its fill changes the price
the fill meets: what the price did meanwhile is part of the tracking error (the hedge was not
there yet) and is also reported alone, as `latency_usd`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pegkeeper.backtest.prices import FloatArray, IntArray, PricePath

COST_COMPONENTS = ("fees", "funding", "slippage", "transfers", "basis")
YEAR_MS = 365.25 * 86_400_000


@dataclass(frozen=True, slots=True)
class PolicyMetrics:
    policy: str
    tracking_error_max_usd: float
    tracking_error_rms_usd: float
    tracking_error_final_usd: float
    tracking_error_max_pct: float
    tracking_error_rms_pct: float
    time_outside_brackets_pct: float
    orders: int
    orders_rejected: int
    post_only_orders: int
    transfers: int
    fees_usd: float
    funding_usd: float
    slippage_usd: float
    transfer_fees_usd: float
    basis_usd: float  # what dated futures' basis cost (negative: earned), backtest/basis_book.py
    latency_usd: float
    total_cost_usd: float
    average_liability_usd: float
    cost_bps_per_year: float
    min_liquidation_distance_pct: float | None
    max_leverage: float | None
    liquidated: bool
    liquidations: int
    opening_cost_usd: float
    events: int
    events_per_second: float

    def as_dict(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in asdict(self).items()}


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 6)
    return value


@dataclass(frozen=True, slots=True)
class Series:
    """One value per tick, for the report's plots."""

    ts_ms: IntArray
    price_usd: FloatArray
    liability_usd: FloatArray
    hedge_notional_usd: FloatArray
    tracking_error_usd: FloatArray
    leverage: FloatArray
    liquidation_distance_pct: FloatArray
    cumulative_cost_usd: dict[str, FloatArray]


@dataclass(frozen=True, slots=True)
class Brackets:
    """The band the report holds every policy to: hedge ratio in [low, high] once the
    liability is at least `minimum_liability_usd`."""

    low: float = 0.95
    high: float = 1.03
    minimum_liability_usd: float = 50.0


class Recorder:
    def __init__(self, path: PricePath, inverse: bool, face: float) -> None:
        self._path = path
        self._inverse = inverse
        self._face = face
        self._start: list[int] = []  # the first tick each state applies to
        self._liability: list[float] = []
        self._backing: list[float] = []  # K, BTC
        self._size: list[float] = []
        self._pnl: list[float] = []  # H at the base price
        self._base: list[float] = []
        self._cash: list[float] = []
        self._avg: list[float] = []
        self._liq: list[float] = []
        self._costs: dict[str, list[tuple[int, float]]] = {c: [] for c in COST_COMPONENTS}

    # -- while running ----------------------------------------------------------------------------

    def begin(
        self, liability_usd: float, mark: float, size: float, avg: float, cash: float, liq: float
    ) -> None:
        self._append(0, liability_usd, liability_usd / mark, size, 0.0, mark, cash, avg, liq)

    def flow(self, next_tick: int, delta_usd: float, mark: float) -> None:
        self._append(
            next_tick,
            self._liability[-1] + delta_usd,
            self._backing[-1] + delta_usd / mark,
            self._size[-1],
            self._pnl[-1],
            self._base[-1],
            self._cash[-1],
            self._avg[-1],
            self._liq[-1],
        )

    def fill(self, next_tick: int, signed_contracts: float, price: float) -> None:
        """The hedge changed by `signed_contracts`, booked at `price`: the mark of the moment
        for a taker, the order's own price for a maker (which fills as the market trades
        through it)."""
        size, base = self._size[-1], self._base[-1]
        pnl = self._pnl[-1] + self._pnl_move(size, base, price)
        self._append(
            next_tick,
            self._liability[-1],
            self._backing[-1],
            size + signed_contracts,
            pnl,
            price,
            self._cash[-1],
            self._avg[-1],
            self._liq[-1],
        )

    def state(
        self, next_tick: int, mark: float, size: float, avg: float, cash: float, liq: float
    ) -> None:
        """The venue's account as it is now; a position that changed without a fill (a
        liquidation) is booked at the mark."""
        pnl, base = self._pnl[-1], self._base[-1]
        if size != self._size[-1]:
            pnl += self._pnl_move(self._size[-1], base, mark)
            base = mark
        self._append(
            next_tick, self._liability[-1], self._backing[-1], size, pnl, base, cash, avg, liq
        )

    def cost(self, ts_ms: int, component: str, usd: float) -> None:
        self._costs[component].append((ts_ms, usd))

    def cost_total(self, component: str) -> float:
        return sum(usd for _, usd in self._costs[component])

    def _append(self, *values: float) -> None:
        start = int(values[0])
        if self._start and self._start[-1] == start:  # the later state of the same tick wins
            for column in self._columns():
                column.pop()
        self._start.append(start)
        for column, value in zip(self._columns()[1:], values[1:], strict=True):
            column.append(float(value))

    def _columns(self) -> list[list[Any]]:
        return [
            self._start,
            self._liability,
            self._backing,
            self._size,
            self._pnl,
            self._base,
            self._cash,
            self._avg,
            self._liq,
        ]

    def _pnl_move(self, size: float, base: float, mark: float) -> float:
        if self._inverse:
            return size * self._face * (1 / base - 1 / mark)
        return size * self._face * (mark - base)

    # -- at the end -------------------------------------------------------------------------------

    def series(self) -> Series:
        path = self._path
        ticks = len(path.tick_ms)
        index = np.searchsorted(np.array(self._start), np.arange(ticks), side="right") - 1
        index = np.maximum(index, 0)

        def column(values: list[float]) -> FloatArray:
            return np.array(values, dtype=np.float64)[index]

        price = path.tick_usd
        liability, backing, size = (
            column(self._liability),
            column(self._backing),
            column(self._size),
        )
        base, cash, avg, liq = (
            column(self._base),
            column(self._cash),
            column(self._avg),
            column(self._liq),
        )
        pnl = column(self._pnl) + self._pnl_move_array(size, base, price)
        with np.errstate(divide="ignore", invalid="ignore"):
            upnl = np.where(avg > 0, self._pnl_move_array(size, avg, price), 0.0)
            if self._inverse:
                value = (backing + pnl) * price
                notional_usd = np.abs(size) * self._face
                notional = notional_usd / price
            else:
                value = backing * price + pnl
                notional_usd = np.abs(size) * self._face * price
                notional = notional_usd
            equity = cash + upnl
            leverage = np.where(equity > 0, notional / equity, np.nan)
            distance = np.where(liq > 0, np.abs(liq - price) / price * 100, np.nan)
        costs = {c: self._cumulative(c) for c in COST_COMPONENTS}
        return Series(
            ts_ms=path.tick_ms,
            price_usd=price,
            liability_usd=liability,
            hedge_notional_usd=notional_usd,
            tracking_error_usd=value - liability,
            leverage=leverage,
            liquidation_distance_pct=distance,
            cumulative_cost_usd=costs,
        )

    def _pnl_move_array(self, size: FloatArray, base: FloatArray, price: FloatArray) -> FloatArray:
        if self._inverse:
            return size * self._face * (1 / base - 1 / price)
        return size * self._face * (price - base)

    def _cumulative(self, component: str) -> FloatArray:
        events = sorted(self._costs[component])
        if not events:
            return np.zeros(len(self._path.tick_ms))
        times = np.array([ts for ts, _ in events], dtype=np.int64)
        totals = np.cumsum([usd for _, usd in events])
        upto = np.searchsorted(times, self._path.tick_ms, side="right")
        return np.where(upto > 0, totals[np.maximum(upto - 1, 0)], 0.0)


@dataclass(frozen=True, slots=True)
class TrackingStats:
    max_usd: float
    rms_usd: float
    final_usd: float
    max_pct: float
    rms_pct: float
    outside_pct: float
    average_liability_usd: float
    min_distance_pct: float | None
    max_leverage: float | None


def tracking_stats(series: Series, brackets: Brackets) -> TrackingStats:
    error = series.tracking_error_usd
    liability = series.liability_usd
    average = float(np.mean(liability))
    owed = liability > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(owed, series.hedge_notional_usd / liability, 1.0)
    watched = liability >= brackets.minimum_liability_usd
    outside = watched & ((ratio < brackets.low) | (ratio > brackets.high))
    distance = series.liquidation_distance_pct
    leverage = series.leverage
    max_usd = float(np.max(np.abs(error)))
    rms_usd = float(np.sqrt(np.mean(error**2)))
    return TrackingStats(
        max_usd=max_usd,
        rms_usd=rms_usd,
        final_usd=float(error[-1]),
        max_pct=max_usd / average * 100 if average > 0 else 0.0,
        rms_pct=rms_usd / average * 100 if average > 0 else 0.0,
        outside_pct=float(outside.sum() / watched.sum() * 100) if watched.any() else 0.0,
        average_liability_usd=average,
        min_distance_pct=float(np.nanmin(distance)) if np.isfinite(distance).any() else None,
        max_leverage=float(np.nanmax(leverage)) if np.isfinite(leverage).any() else None,
    )


def cost_bps_per_year(total_cost_usd: float, average_liability_usd: float, span_ms: int) -> float:
    if average_liability_usd <= 0 or span_ms <= 0:
        return 0.0
    return total_cost_usd / average_liability_usd / (span_ms / YEAR_MS) * 10_000

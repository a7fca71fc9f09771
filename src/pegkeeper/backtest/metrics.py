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


Row = tuple[int, float, float, float, float, float, float, float, float]


class Recorder:
    """The state after each change, one row per tick that changed it (the later state of a
    tick wins): (first tick, liability, backing K, size, P&L H at the base price, base price,
    cash, average price, liquidation price), all floats but the tick."""

    def __init__(self, path: PricePath, inverse: bool, face: float) -> None:
        self._path = path
        self._inverse = inverse
        self._face = face
        self._rows: list[Row] = []
        self._costs: dict[str, list[tuple[int, float]]] = {c: [] for c in COST_COMPONENTS}

    # -- while running ----------------------------------------------------------------------------

    def begin(
        self, liability_usd: float, mark: float, size: float, avg: float, cash: float, liq: float
    ) -> None:
        self._append(0, liability_usd, liability_usd / mark, size, 0.0, mark, cash, avg, liq)

    def flow(self, next_tick: int, delta_usd: float, mark: float) -> None:
        _, liability, backing, size, pnl, base, cash, avg, liq = self._rows[-1]
        self._append(
            next_tick, liability + delta_usd, backing + delta_usd / mark, size, pnl, base, cash,
            avg, liq,
        )  # fmt: skip

    def fill(self, next_tick: int, signed_contracts: float, price: float) -> None:
        """The hedge changed by `signed_contracts`, booked at `price`: the mark of the moment
        for a taker, the order's own price for a maker (which fills as the market trades
        through it)."""
        _, liability, backing, size, pnl, base, cash, avg, liq = self._rows[-1]
        pnl += self._pnl_move(size, base, price)
        self._append(
            next_tick, liability, backing, size + signed_contracts, pnl, price, cash, avg, liq
        )

    def state(
        self, next_tick: int, mark: float, size: float, avg: float, cash: float, liq: float
    ) -> None:
        """The venue's account as it is now; a position that changed without a fill (a
        liquidation) is booked at the mark."""
        _, liability, backing, last_size, pnl, base, _, _, _ = self._rows[-1]
        if size != last_size:
            pnl += self._pnl_move(last_size, base, mark)
            base = mark
        self._append(next_tick, liability, backing, size, pnl, base, cash, avg, liq)

    def cost(self, ts_ms: int, component: str, usd: float) -> None:
        self._costs[component].append((ts_ms, usd))

    def cost_total(self, component: str) -> float:
        return sum(usd for _, usd in self._costs[component])

    def _append(
        self,
        start: int,
        liability: float,
        backing: float,
        size: float,
        pnl: float,
        base: float,
        cash: float,
        avg: float,
        liq: float,
    ) -> None:
        row = (
            int(start), float(liability), float(backing), float(size), float(pnl), float(base),
            float(cash), float(avg), float(liq),
        )  # fmt: skip
        rows = self._rows
        if rows and rows[-1][0] == row[0]:  # the later state of the same tick wins
            rows[-1] = row
        else:
            rows.append(row)

    def _pnl_move(self, size: float, base: float, mark: float) -> float:
        if self._inverse:
            return size * self._face * (1 / base - 1 / mark)
        return size * self._face * (mark - base)

    # -- at the end -------------------------------------------------------------------------------

    def series(self) -> Series:
        path = self._path
        ticks = len(path.tick_ms)
        table = np.array(self._rows, dtype=np.float64).reshape(-1, 9)
        index = np.searchsorted(table[:, 0], np.arange(ticks), side="right") - 1
        index = np.maximum(index, 0)
        liability, backing, size, pnl_at_base, base, cash, avg, liq = table[index, 1:].T
        price = path.tick_usd
        pnl = pnl_at_base + self._pnl_move_array(size, base, price)
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

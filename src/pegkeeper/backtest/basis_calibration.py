"""Fits the basis model's numbers (`[backtest.basis]`) on the real CME data of the shared data
set; the method and the results are in `config/basis.py`.

    python -m pegkeeper.backtest.basis_calibration /path/to/shared/data

The basis of a day is the CME close over the reference price at the close, minus one. The
reference is the Deribit BTC index at the end of the hour (2019-04-30 to 2021-02-25); for
November 2022, when it has no data, the Binance perpetual's 1-minute close. The close is the
15:00 Chicago settlement; for 2022-11-09/10 the Yahoo values match 16:00 (README, futures/).
The drawdown is measured on the same hourly prices, streamed through the backtester's own
`TrailingDrawdown`.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from statistics import median
from zoneinfo import ZoneInfo

import numpy as np

from pegkeeper.backtest.basis import TrailingDrawdown
from pegkeeper.config.basis import BasisSettings
from pegkeeper.domain.units import HOUR_MS

CHICAGO = ZoneInfo("America/Chicago")
SETTLEMENT_HOUR = 15
LATE_CLOSE_HOUR = 16  # the hour the Yahoo closes of 2022-11-09/10 match
DAYS_PER_MONTH = 365 / 12
DERIBIT = "funding/deribit-btc-perp-funding-1h-2019_2021.csv"
FRONT_MONTH = "futures/cme-btc-front-month-daily-yahoo.with-expiry.csv"
CONSTANT_MATURITY = "futures/cme-btc-constant-maturity-1d-6m.csv"
BINANCE_2022 = "btc/binance-btcusdt-1m-2022-11-07_10.csv"
CRASH_DAYS_2020 = ("2020-03-12", "2020-03-13")
CRASH_DAYS_2022 = ("2022-11-09", "2022-11-10")
THRESHOLD_STEP = 0.005


@dataclass(frozen=True, slots=True)
class BasisPoint:
    day: str
    term_days: float
    basis: float  # F / S - 1
    drawdown: float  # from the highest of the crash window before the close


@dataclass(frozen=True, slots=True)
class BasisCalibration:
    level_per_year: float
    slope_per_year: float
    crash_threshold: float
    crash_slope: float
    front_month: tuple[BasisPoint, ...]  # every non-expiry day with a Deribit index
    medians: tuple[tuple[float, float], ...]  # (term in days, median basis): front month, 1M..6M
    constant_maturity_3m: tuple[BasisPoint, ...]  # on CRASH_DAYS_2020
    late_2022: tuple[BasisPoint, ...]  # the front month on CRASH_DAYS_2022, 16:00 Chicago

    def settings(self) -> BasisSettings:
        """The fitted numbers at the precision `[backtest.basis]` writes them."""
        return BasisSettings(
            level_per_year=Decimal(f"{self.level_per_year:.3f}"),
            slope_per_year=Decimal(f"{self.slope_per_year:.3f}"),
            crash_threshold=Decimal(f"{self.crash_threshold:.3f}"),
            crash_slope=Decimal(f"{self.crash_slope:.2f}"),
        )


def calibrate_basis(data_dir: Path, crash_window_hours: float | None = None) -> BasisCalibration:
    window_hours = (
        crash_window_hours if crash_window_hours is not None else BasisSettings().crash_window_hours
    )
    window_ms = int(window_hours * HOUR_MS)
    index = _hourly(_deribit_index(data_dir / DERIBIT), window_ms)
    front = _front_month(data_dir / FRONT_MONTH, index, SETTLEMENT_HOUR)
    curve = _constant_maturity(data_dir / CONSTANT_MATURITY, index)
    medians = [(median(p.term_days for p in front), median(p.basis for p in front))]
    medians += [(m * DAYS_PER_MONTH, median(b for _, b in curve[m])) for m in sorted(curve)]
    level, slope = _term_structure(medians)
    perp_2022 = _hourly(_binance_hourly(data_dir / BINANCE_2022), window_ms)
    late = _front_month(data_dir / FRONT_MONTH, perp_2022, LATE_CLOSE_HOUR, CRASH_DAYS_2022)
    crash_3m = tuple(
        BasisPoint(day, 3 * DAYS_PER_MONTH, basis, index[_close_ms(day, SETTLEMENT_HOUR)][1])
        for day, basis in curve[3]
        if day in CRASH_DAYS_2020
    )
    threshold, crash_slope = _crash_discount([*front, *crash_3m, *late], level, slope)
    return BasisCalibration(
        level, slope, threshold, crash_slope, front, tuple(medians), crash_3m, late
    )


def calm_basis(level: float, slope: float, term_days: float) -> float:
    term_years = term_days / 365
    return (level + slope * term_years) * term_years


def _term_structure(medians: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares: annualised median basis = level + slope * term (years)."""
    terms = np.array([days / 365 for days, _ in medians])
    annualised = np.array([basis for _, basis in medians]) / terms
    slope, level = np.polyfit(terms, annualised, 1)
    return float(level), float(slope)


def _crash_discount(points: list[BasisPoint], level: float, slope: float) -> tuple[float, float]:
    """Least squares: deviation from the term structure = -slope * max(0, drawdown - threshold),
    the threshold on a grid, the slope >= 0."""
    drawdowns = np.array([p.drawdown for p in points])
    deviations = np.array([p.basis - calm_basis(level, slope, p.term_days) for p in points])
    best: tuple[float, float, float] | None = None
    for threshold in np.arange(0, drawdowns.max(), THRESHOLD_STEP):
        beyond = np.maximum(0.0, drawdowns - threshold)
        crash_slope = max(0.0, float(-(beyond @ deviations) / (beyond @ beyond)))
        error = float(((deviations + crash_slope * beyond) ** 2).sum())
        if best is None or error < best[0] - 1e-15:
            best = (error, float(threshold), crash_slope)
    if best is None:
        raise ValueError("no drawdown in the calibration data: cannot fit a crash discount")
    return round(best[1], 6), best[2]


def _front_month(
    path: Path,
    prices: dict[int, tuple[float, float]],
    hour: int,
    days: tuple[str, ...] | None = None,
) -> tuple[BasisPoint, ...]:
    found = []
    for row in _rows(path):
        day = row["date"]
        reference = prices.get(_close_ms(day, hour))
        if row["is_expiry_day"] != "0" or reference is None or (days and day not in days):
            continue
        price, drawdown = reference
        basis = float(row["close_usd"]) / price - 1
        found.append(BasisPoint(day, float(row["days_to_expiry"]), basis, drawdown))
    return tuple(found)


def _constant_maturity(
    path: Path, index: dict[int, tuple[float, float]]
) -> dict[int, list[tuple[str, float]]]:
    """(day, basis) of each maturity in months, on CME trading days with a Deribit index."""
    curve: dict[int, list[tuple[str, float]]] = {m: [] for m in range(1, 7)}
    for row in _rows(path):
        reference = index.get(_close_ms(row["date"], SETTLEMENT_HOUR))
        if row["is_cme_trading_day"] != "1" or reference is None:
            continue
        for months, points in curve.items():
            points.append((row["date"], float(row[f"cme_cm_{months}m"]) / reference[0] - 1))
    return curve


def _deribit_index(path: Path) -> list[tuple[int, str]]:
    """(end of hour ms, index) sorted: the file has two rows out of order."""
    return sorted((int(row["timestamp"]), row["index_price"]) for row in _rows(path))


def _binance_hourly(path: Path) -> list[tuple[int, str]]:
    """The close of the minute that ends on each whole hour."""
    found = []
    for row in _rows(path):
        end_ms = int(row["open_time_ms"]) + 60_000
        if end_ms % HOUR_MS == 0:
            found.append((end_ms, row["close"]))
    return found


def _hourly(series: list[tuple[int, str]], window_ms: int) -> dict[int, tuple[float, float]]:
    """ms -> (price, drawdown from the highest of the window before it)."""
    tracker = TrailingDrawdown(window_ms)
    return {ms: (float(text), tracker.update(ms, float(text))) for ms, text in series}


def _close_ms(day: str, hour: int) -> int:
    moment = datetime.combine(date.fromisoformat(day), time(hour), tzinfo=CHICAGO)
    return int(moment.timestamp() * 1000)


def _rows(path: Path) -> Iterator[dict[str, str]]:
    # DictReader keeps the last of two same-named columns (Deribit's time_dt): unused here
    with path.open(encoding="utf-8", newline="") as lines:
        yield from csv.DictReader(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} SHARED_DATA_DIR", file=sys.stderr)
        return 2
    fit = calibrate_basis(Path(argv[1]))
    print(f"# {len(fit.front_month)} front-month days; medians (days, basis):")
    for days, basis in fit.medians:
        print(f"#   {days:6.1f} {basis:+.4%}  {basis * 365 / days:+.2%}/yr")
    print(
        f"# raw fit: {fit.level_per_year}, {fit.slope_per_year}, {fit.crash_threshold}, "
        f"{fit.crash_slope}"
    )
    print("[backtest.basis]")
    for key, value in fit.settings().model_dump().items():
        print(f'{key} = "{value}"' if isinstance(value, Decimal) else f"{key} = {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

"""Funding rate histories for the backtester, and the rate of each 8-hour settlement.

Three layouts are read, told apart by their header:
- Binance (`calc_time,funding_interval_hours,last_funding_rate`): `calc_time` in epoch ms, a
  few ms after the boundary, so rounded to the nearest hour;
- BitMEX (`timestamp,symbol,fundingInterval,fundingRate,...`): ISO times;
- plain (`funding_time_ms,rate`).
Rates are fractions per period; positive: longs pay shorts.

The simulated exchange settles funding at 00:00, 08:00 and 16:00 UTC, as OKX does. Each of
those settlements takes the file's latest rate fixed at or before it and less than 8 h before
it (BitMEX's 04:00, 12:00, 20:00 rates apply to the OKX boundary after them). A settlement in
the price window without such a rate is refused: funding is never silently zero.
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pegkeeper.domain.units import HOUR_MS

FUNDING_INTERVAL_MS = 8 * HOUR_MS

LAYOUTS = {
    "binance": ("calc_time", "last_funding_rate"),
    "bitmex": ("timestamp", "fundingRate"),
    "plain": ("funding_time_ms", "rate"),
}


class FundingFileError(ValueError):
    """A funding file that cannot be used; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class FundingSchedule:
    """Rates by the time they were fixed (sorted), or one constant rate."""

    source: str
    times_ms: tuple[int, ...] = ()
    rates: tuple[Decimal, ...] = ()
    constant: Decimal | None = None

    @classmethod
    def constant_rate(cls, rate: Decimal) -> FundingSchedule:
        return cls(source=f"constant {rate} per 8 h (no funding file)", constant=rate)

    def rate_at(self, boundary_ms: int) -> Decimal:
        """The rate settled at `boundary_ms`; FundingFileError when the file has none."""
        if self.constant is not None:
            return self.constant
        index = bisect.bisect_right(self.times_ms, boundary_ms) - 1
        if index < 0 or boundary_ms - self.times_ms[index] >= FUNDING_INTERVAL_MS:
            raise FundingFileError(
                f"{self.source}: no funding rate for the settlement at {utc_text(boundary_ms)}; "
                f"the file covers {utc_text(self.times_ms[0])} to {utc_text(self.times_ms[-1])}"
                if self.times_ms
                else f"{self.source}: no funding rates"
            )
        return self.rates[index]

    def check_covers(self, start_ms: int, end_ms: int) -> None:
        """Every settlement in (start_ms, end_ms] has a rate; refuses the file otherwise."""
        for boundary in boundaries_between(start_ms, end_ms):
            self.rate_at(boundary)


def boundaries_between(start_ms: int, end_ms: int) -> list[int]:
    """The 8-hourly settlements in (start_ms, end_ms]."""
    first = (start_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
    return list(range(first, end_ms + 1, FUNDING_INTERVAL_MS))


def load_funding(path: Path) -> FundingSchedule:
    try:
        with path.open("r", encoding="utf-8", newline="") as lines:
            return parse_funding(lines, str(path))
    except (OSError, UnicodeDecodeError) as error:
        raise FundingFileError(f"{path}: cannot be read: {error}") from None


def parse_funding(lines: Iterable[str], source: str) -> FundingSchedule:
    reader = csv.reader(lines)
    header = [name.strip() for name in next(reader, [])]
    layout = next((name for name, cols in LAYOUTS.items() if set(cols) <= set(header)), None)
    if layout is None:
        expected = "; ".join(",".join(cols) for cols in LAYOUTS.values())
        raise FundingFileError(
            f"{source}: line 1: unknown header {','.join(header) or '(empty)'}; expected columns "
            f"{expected}"
        )
    time_column, rate_column = LAYOUTS[layout]
    time_index, rate_index = header.index(time_column), header.index(rate_column)
    times: list[int] = []
    rates: list[Decimal] = []
    line = 1
    for cells in reader:
        line += 1
        if not cells or not any(cell.strip() for cell in cells):
            continue
        if len(cells) <= max(time_index, rate_index):
            raise FundingFileError(f"{source}: line {line}: expected {len(header)} columns")
        ms = _time_ms(cells[time_index].strip(), layout, source, line)
        if times and ms <= times[-1]:
            what = "duplicate" if ms == times[-1] else "unsorted"
            raise FundingFileError(
                f"{source}: line {line}: column {time_column}: {what} time {utc_text(ms)}"
            )
        times.append(ms)
        rates.append(parse_rate(cells[rate_index].strip(), rate_column, source, line))
    if not times:
        raise FundingFileError(f"{source}: line 2: no rates after the header")
    return FundingSchedule(source=source, times_ms=tuple(times), rates=tuple(rates))


def _time_ms(text: str, layout: str, source: str, line: int) -> int:
    try:
        if layout == "bitmex":
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return int(moment.timestamp() * 1000)
        ms = int(text)
    except ValueError:
        raise FundingFileError(f"{source}: line {line}: not a time: {text!r}") from None
    if layout == "binance":  # a few ms after the boundary
        ms = (ms + HOUR_MS // 2) // HOUR_MS * HOUR_MS
    return ms


def parse_rate(text: str, column: str, source: str, line: int) -> Decimal:
    try:
        rate = Decimal(text)
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or abs(rate) >= 1:
        raise FundingFileError(
            f"{source}: line {line}: column {column}: not a rate (a fraction): {text!r}"
        )
    return rate


def utc_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")

"""Funding histories of several venues for the carry-aware backtest, and what the carry policy
reads from one at any moment: the rate the next settlement pays and the mean of the last ones.

Layouts, told apart by their header (rates are fractions per interval; positive: longs pay
shorts):
- Deribit BTC-PERPETUAL, hourly (`timestamp`, `interest_1h`, ...): `timestamp` is the end of
  the funding hour in epoch ms, `interest_1h` what that hour paid. The file names `time_dt`
  twice and stores two rows out of order (October 2019): rows are sorted by time, a time
  written twice is refused. `interest_8h` is not a forecast: it follows the sum of the last
  eight hours' `interest_1h` (correlation 0.98), so it is not read.
- The long file of six venues (`venue`, `funding_time_ms`, `nominal_interval_hours`,
  `funding_rate`): the rows of one venue, chosen by name (8-hourly; dYdX hourly).
- The 8-hour layouts of `funding_rates.py` (Binance, BitMEX, plain), named after the layout.

Everything the policy reads is per 8 hours (an hourly rate times 8), the period carry is
annualised from (x 3 x 365):
- `predicted_rate_8h`: the rate of the first settlement after now. Venues publish it ahead as
  their "predicted" or "next" rate. BitMEX fixes it a whole period ahead; Binance, OKX and
  Bybit let it float until the settlement, so using the settled rate looks ahead by up to
  one interval (8 h; 1 h on Deribit and dYdX). `last_rate_8h` has no look-ahead at all.
- `trailing_mean_rate_8h`: the mean of the settlements in the window that ends now.
A settlement missing from the file is bridged for at most MAX_GAP_INTERVALS intervals (HTX
misses a day in February 2021, Deribit two hours in August 2020); a longer gap is refused.

`schedule()` gives the 8-hourly FundingSchedule the simulated exchange settles with: the
file's own rates for an 8-hour venue; for an hourly one, each 8-hour boundary's rate is the
hourly mean times 8 over the hours before it, when at least half of them are in the file.
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pegkeeper.backtest.funding_rates import (
    FUNDING_INTERVAL_MS,
    LAYOUTS,
    FundingFileError,
    FundingSchedule,
    parse_funding,
    parse_rate,
    utc_text,
)
from pegkeeper.domain.units import HOUR_MS

EIGHT_HOURS = 8
MAX_GAP_INTERVALS = 3
DERIBIT_COLUMNS = ("timestamp", "interest_1h")
VENUES_COLUMNS = ("venue", "funding_time_ms", "nominal_interval_hours", "funding_rate")


@dataclass(frozen=True, slots=True)
class VenueFunding:
    """The settlements of one venue, sorted, each a rate per `interval_hours`."""

    venue: str
    source: str
    interval_hours: int
    settle_ms: tuple[int, ...]
    rates: tuple[Decimal, ...]

    def __post_init__(self) -> None:
        if self.interval_hours not in (1, EIGHT_HOURS):
            raise FundingFileError(
                f"{self.source}: {self.venue} settles every {self.interval_hours} h; "
                "expected 1 or 8"
            )
        if not self.settle_ms or len(self.settle_ms) != len(self.rates):
            raise FundingFileError(f"{self.source}: no funding rates of {self.venue}")

    @property
    def interval_ms(self) -> int:
        return self.interval_hours * HOUR_MS

    def predicted_rate_8h(self, now_ms: int) -> Decimal:
        """Per 8 h, the rate the first settlement after `now_ms` pays."""
        index = bisect.bisect_right(self.settle_ms, now_ms)
        if index == len(self.settle_ms) or self.settle_ms[index] - now_ms > self._max_gap_ms:
            raise self._uncovered(now_ms, "no settlement within", "after")
        return self._per_8h(self.rates[index])

    def last_rate_8h(self, now_ms: int) -> Decimal:
        """Per 8 h, the rate of the last settlement at or before `now_ms`."""
        index = bisect.bisect_right(self.settle_ms, now_ms) - 1
        if index < 0 or now_ms - self.settle_ms[index] > self._max_gap_ms:
            raise self._uncovered(now_ms, "no settlement within", "before")
        return self._per_8h(self.rates[index])

    def trailing_mean_rate_8h(self, now_ms: int, window_ms: int) -> Decimal:
        """Per 8 h, the mean of the settlements in (now_ms - window_ms, now_ms]."""
        if window_ms <= 0:
            raise ValueError(f"expected a window > 0 ms, got {window_ms}")
        rates = self.settled_between(now_ms - window_ms, now_ms)
        if not rates:
            raise FundingFileError(
                f"{self.source}: no {self.venue} settlement in the {window_ms / HOUR_MS:g} h "
                f"before {utc_text(now_ms)}; {self._coverage()}"
            )
        return self._per_8h(sum(rates, Decimal(0)) / len(rates))

    def settled_between(self, start_ms: int, end_ms: int) -> tuple[Decimal, ...]:
        """The rates (per interval) settled in (start_ms, end_ms]."""
        first = bisect.bisect_right(self.settle_ms, start_ms)
        last = bisect.bisect_right(self.settle_ms, end_ms)
        return self.rates[first:last]

    def schedule(self) -> FundingSchedule:
        """The 8-hourly rates the simulated exchange settles with (module doc)."""
        if self.interval_hours == EIGHT_HOURS:
            return FundingSchedule(self.source, self.settle_ms, self.rates)
        times: list[int] = []
        rates: list[Decimal] = []
        boundary = -(-self.settle_ms[0] // FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS
        while boundary <= self.settle_ms[-1]:
            hourly = self.settled_between(boundary - FUNDING_INTERVAL_MS, boundary)
            if 2 * len(hourly) >= EIGHT_HOURS:
                times.append(boundary)
                rates.append(self._per_8h(sum(hourly, Decimal(0)) / len(hourly)))
            boundary += FUNDING_INTERVAL_MS
        return FundingSchedule(f"{self.source} ({self.venue}, hourly)", tuple(times), tuple(rates))

    @property
    def _max_gap_ms(self) -> int:
        return MAX_GAP_INTERVALS * self.interval_ms

    def _per_8h(self, rate: Decimal) -> Decimal:
        return rate * (EIGHT_HOURS // self.interval_hours)

    def _uncovered(self, now_ms: int, what: str, where: str) -> FundingFileError:
        hours = self._max_gap_ms // HOUR_MS
        return FundingFileError(
            f"{self.source}: {what} {hours} h {where} {utc_text(now_ms)} for {self.venue}; "
            f"{self._coverage()}"
        )

    def _coverage(self) -> str:
        return f"the file covers {utc_text(self.settle_ms[0])} to {utc_text(self.settle_ms[-1])}"


def load_venue_funding(path: Path, venue: str | None = None) -> VenueFunding:
    """The funding history of `venue` in the file (the file's own venue when it has one)."""
    try:
        with path.open("r", encoding="utf-8", newline="") as lines:
            return parse_venue_funding(lines, str(path), venue)
    except (OSError, UnicodeDecodeError) as error:
        raise FundingFileError(f"{path}: cannot be read: {error}") from None


def parse_venue_funding(
    lines: Iterable[str], source: str, venue: str | None = None
) -> VenueFunding:
    text = iter(lines)
    header_line = next(text, "")
    header = [name.strip() for name in next(csv.reader([header_line]), [])]
    if set(VENUES_COLUMNS) <= set(header):
        return _one_of_many(csv.reader(text), header, source, venue)
    if set(DERIBIT_COLUMNS) <= set(header):
        return _single(_deribit(csv.reader(text), header, source), "deribit", venue)
    layout = next((name for name, cols in LAYOUTS.items() if set(cols) <= set(header)), None)
    if layout is None:
        known = [*LAYOUTS.values(), DERIBIT_COLUMNS, VENUES_COLUMNS]
        raise FundingFileError(
            f"{source}: line 1: unknown header {','.join(header) or '(empty)'}; expected "
            f"columns {'; '.join(','.join(cols) for cols in known)}"
        )
    schedule = parse_funding([header_line, *text], source)
    funding = VenueFunding(layout, source, EIGHT_HOURS, schedule.times_ms, schedule.rates)
    return _single(funding, layout, venue)


def _single(funding: VenueFunding, own: str, venue: str | None) -> VenueFunding:
    if venue is not None and venue != own:
        raise FundingFileError(
            f"{funding.source}: holds the funding of {own} only, not of {venue!r}"
        )
    return funding


def _deribit(reader: Iterator[list[str]], header: list[str], source: str) -> VenueFunding:
    time_index, rate_index = (header.index(name) for name in DERIBIT_COLUMNS)
    rows: dict[int, tuple[int, Decimal]] = {}  # ms -> (line, rate)
    for line, cells in _numbered(reader, max(time_index, rate_index), len(header), source):
        ms = _ms(cells[time_index], "timestamp", source, line)
        if ms in rows:
            raise FundingFileError(
                f"{source}: line {line}: column timestamp: {utc_text(ms)} is also on line "
                f"{rows[ms][0]}"
            )
        rows[ms] = (line, parse_rate(cells[rate_index].strip(), "interest_1h", source, line))
    times = tuple(sorted(rows))
    return VenueFunding("deribit", source, 1, times, tuple(rows[ms][1] for ms in times))


def _one_of_many(
    reader: Iterator[list[str]], header: list[str], source: str, venue: str | None
) -> VenueFunding:
    venue_i, time_i, interval_i, rate_i = (header.index(name) for name in VENUES_COLUMNS)
    found: set[str] = set()
    times: list[int] = []
    rates: list[Decimal] = []
    intervals: set[str] = set()
    for line, cells in _numbered(reader, max(venue_i, time_i, rate_i), len(header), source):
        found.add(cells[venue_i].strip())
        if cells[venue_i].strip() != venue:
            continue
        ms = _ms(cells[time_i], "funding_time_ms", source, line)
        if times and ms <= times[-1]:
            what = "duplicate" if ms == times[-1] else "unsorted"
            raise FundingFileError(
                f"{source}: line {line}: column funding_time_ms: {what} time {utc_text(ms)}"
            )
        times.append(ms)
        rates.append(parse_rate(cells[rate_i].strip(), "funding_rate", source, line))
        intervals.add(cells[interval_i].strip())
    if venue is None or not times:
        asked = "no venue chosen" if venue is None else f"no rows of venue {venue!r}"
        raise FundingFileError(
            f"{source}: {asked}; the file holds {', '.join(sorted(found)) or 'no venue'}"
        )
    if len(intervals) != 1 or not next(iter(intervals)).isdigit():
        raise FundingFileError(
            f"{source}: {venue} has nominal_interval_hours {', '.join(sorted(intervals))}; "
            "expected one whole number of hours"
        )
    return VenueFunding(venue, source, int(intervals.pop()), tuple(times), tuple(rates))


def _numbered(
    reader: Iterator[list[str]], last_index: int, columns: int, source: str
) -> Iterator[tuple[int, list[str]]]:
    line = 1
    for cells in reader:
        line += 1
        if not cells or not any(cell.strip() for cell in cells):
            continue
        if len(cells) <= last_index:
            raise FundingFileError(f"{source}: line {line}: expected {columns} columns")
        yield line, cells


def _ms(text: str, column: str, source: str, line: int) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise FundingFileError(
            f"{source}: line {line}: column {column}: not a time in epoch ms: {text!r}"
        ) from None

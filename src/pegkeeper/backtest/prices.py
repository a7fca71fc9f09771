"""Price files for the backtester: 1-minute OHLC bars, checked line by line, and their ticks.

A file has a header row naming a time column, `open_time_ms` (epoch ms, UTC) or `timestamp`
(`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC, or epoch ms), then `open`, `high`, `low`, `close`, and
optionally `volume` (other columns are ignored). Bars must be one minute apart, on whole
minutes, sorted, without duplicates or gaps. A bad row is refused with its line number (1 is
the header) and column. With `fill_gaps` a missing minute is filled forward instead: a flat bar
at the previous close with no volume, counted in `filled_bars`.

Each bar becomes four ticks 15 s apart, as the simulated exchange's price paths do: open, then
the low and the high in the order the bar most likely went (low first when it closed at or
above its open), then close.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import numpy.typing as npt

BAR_MS = 60_000
TICKS_PER_BAR = 4
TICK_STEP_MS = BAR_MS // TICKS_PER_BAR
TIME_COLUMNS = ("open_time_ms", "timestamp")
PRICE_COLUMNS = ("open", "high", "low", "close")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class PriceFileError(ValueError):
    """A price file that cannot be used; the message names the file, the line and the column."""


@dataclass(frozen=True, slots=True)
class _Row:
    open_time_ms: int
    prices: tuple[Decimal, Decimal, Decimal, Decimal]  # open, high, low, close
    volume: float


@dataclass(frozen=True, slots=True)
class PricePath:
    """Bars as arrays (float, for statistics and the book model) and the ticks the engine is
    driven with (Decimal, exact as written in the file)."""

    source: str
    bar_open_ms: IntArray
    bar_high_usd: FloatArray
    bar_low_usd: FloatArray
    bar_close_usd: FloatArray
    bar_volume: FloatArray  # as in the file: base (BTC) or quote (USD) units
    has_volume: bool
    filled_bars: int
    tick_ms: IntArray
    tick_usd: FloatArray
    tick_prices: list[Decimal]

    @property
    def start_ms(self) -> int:
        return int(self.bar_open_ms[0])

    @property
    def end_ms(self) -> int:
        """The last tick."""
        return int(self.tick_ms[-1])

    @property
    def bars(self) -> int:
        return len(self.bar_open_ms)

    def price_at(self, ms: int) -> Decimal:
        """The path's price at `ms`: linear between the ticks around it, to the cent."""
        index = int(np.searchsorted(self.tick_ms, ms, side="right")) - 1
        if index < 0:
            return self.tick_prices[0]
        if index >= len(self.tick_ms) - 1:
            return self.tick_prices[-1]
        start_ms = int(self.tick_ms[index])
        if ms == start_ms:
            return self.tick_prices[index]
        before, after = self.tick_prices[index], self.tick_prices[index + 1]
        share = Decimal(ms - start_ms) / Decimal(int(self.tick_ms[index + 1]) - start_ms)
        return (before + (after - before) * share).quantize(Decimal("0.01"))


def load_prices(path: Path, *, fill_gaps: bool = False) -> PricePath:
    try:
        with path.open("r", encoding="utf-8", newline="") as lines:
            rows, filled, has_volume = _read_rows(lines, fill_gaps)
    except PriceFileError as error:
        raise PriceFileError(f"{path}: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PriceFileError(f"{path}: cannot be read: {error}") from None
    return _path_of(str(path), rows, filled, has_volume)


def parse_prices(lines: Iterable[str], source: str, *, fill_gaps: bool = False) -> PricePath:
    """As `load_prices`, from text lines (tests, small paths)."""
    try:
        rows, filled, has_volume = _read_rows(lines, fill_gaps)
    except PriceFileError as error:
        raise PriceFileError(f"{source}: {error}") from None
    return _path_of(source, rows, filled, has_volume)


def _read_rows(lines: Iterable[str], fill_gaps: bool) -> tuple[list[_Row], int, bool]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise PriceFileError("line 1: the file is empty; expected a header row")
    columns, has_volume = _columns([name.strip() for name in header])
    rows: list[_Row] = []
    filled = 0
    for row in _numbered(reader):
        line, cells = row
        bar = _parse_row(cells, columns, line)
        if rows:
            missing = _check_follows(rows[-1].open_time_ms, bar.open_time_ms, line, fill_gaps)
            for _ in range(missing):
                rows.append(_flat_after(rows[-1]))
            filled += missing
        rows.append(bar)
    if not rows:
        raise PriceFileError("line 2: no bars after the header")
    return rows, filled, has_volume


def _numbered(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    line = 1
    for cells in reader:
        line += 1
        if cells and any(cell.strip() for cell in cells):
            yield line, cells


def _columns(header: list[str]) -> tuple[dict[str, int], bool]:
    time_column = next((name for name in TIME_COLUMNS if name in header), None)
    missing = [name for name in PRICE_COLUMNS if name not in header]
    if time_column is None or missing:
        lacking = ([] if time_column else ["open_time_ms (or timestamp)"]) + missing
        raise PriceFileError(
            f"line 1: the header lacks column(s) {', '.join(lacking)}; expected "
            "open_time_ms,open,high,low,close[,volume] (or timestamp instead of open_time_ms)"
        )
    names = [time_column, *PRICE_COLUMNS] + (["volume"] if "volume" in header else [])
    columns = {name: header.index(name) for name in names}
    columns["time"] = columns.pop(time_column)
    return columns, "volume" in header


def _parse_row(cells: list[str], columns: dict[str, int], line: int) -> _Row:
    needed = max(columns.values()) + 1
    if len(cells) < needed:
        raise PriceFileError(f"line {line}: expected at least {needed} columns, got {len(cells)}")
    open_time_ms = _time_ms(cells[columns["time"]].strip(), line)
    open_usd, high_usd, low_usd, close_usd = (
        _price(cells[columns[name]], name, line) for name in PRICE_COLUMNS
    )
    if low_usd > min(open_usd, close_usd) or high_usd < max(open_usd, close_usd):
        raise PriceFileError(
            f"line {line}: column high/low: low {low_usd} and high {high_usd} do not enclose "
            f"open {open_usd} and close {close_usd}"
        )
    volume = _volume(cells[columns["volume"]], line) if "volume" in columns else 0.0
    return _Row(open_time_ms, (open_usd, high_usd, low_usd, close_usd), volume)


def _time_ms(text: str, line: int) -> int:
    if text.isdigit():
        value = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise PriceFileError(
                f"line {line}: column time: {text!r} is neither epoch ms nor "
                "YYYY-MM-DD HH:MM:SS (UTC)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        value = int(moment.timestamp() * 1000)
    if value % BAR_MS != 0:
        raise PriceFileError(f"line {line}: column time: {text} is not on a whole minute")
    return value


def _price(text: str, column: str, line: int) -> Decimal:
    try:
        price = Decimal(text.strip())
    except InvalidOperation:
        price = Decimal("NaN")
    if not price.is_finite() or price <= 0:
        raise PriceFileError(f"line {line}: column {column}: not a positive number: {text!r}")
    return price


def _volume(text: str, line: int) -> float:
    try:
        volume = float(text)
    except ValueError:
        volume = float("nan")
    if not np.isfinite(volume) or volume < 0:
        raise PriceFileError(f"line {line}: column volume: not a number >= 0: {text!r}")
    return volume


def _check_follows(previous_ms: int, open_time_ms: int, line: int, fill_gaps: bool) -> int:
    """How many minutes are missing before this bar (only with `fill_gaps`)."""
    if open_time_ms == previous_ms:
        raise PriceFileError(f"line {line}: column time: duplicate bar at {_utc(open_time_ms)}")
    if open_time_ms < previous_ms:
        raise PriceFileError(
            f"line {line}: column time: unsorted: {_utc(open_time_ms)} comes after "
            f"{_utc(previous_ms)}"
        )
    missing = (open_time_ms - previous_ms) // BAR_MS - 1
    if missing and not fill_gaps:
        raise PriceFileError(
            f"line {line}: column time: a gap of {missing} minute(s) after {_utc(previous_ms)}; "
            "expected one bar per minute (or pass --fill-gaps to fill forward)"
        )
    return missing


def _flat_after(bar: _Row) -> _Row:
    close = bar.prices[3]
    return _Row(bar.open_time_ms + BAR_MS, (close, close, close, close), 0.0)


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _path_of(source: str, rows: list[_Row], filled: int, has_volume: bool) -> PricePath:
    cache: dict[Decimal, Decimal] = {}  # one object per distinct price
    tick_prices: list[Decimal] = []
    for row in rows:
        open_usd, high_usd, low_usd, close_usd = row.prices
        middle = (low_usd, high_usd) if close_usd >= open_usd else (high_usd, low_usd)
        for price in (open_usd, *middle, close_usd):
            tick_prices.append(cache.setdefault(price, price))
    opens = np.fromiter((r.open_time_ms for r in rows), dtype=np.int64, count=len(rows))
    offsets = np.arange(TICKS_PER_BAR, dtype=np.int64) * TICK_STEP_MS
    return PricePath(
        source=source,
        bar_open_ms=opens,
        bar_high_usd=np.array([float(r.prices[1]) for r in rows]),
        bar_low_usd=np.array([float(r.prices[2]) for r in rows]),
        bar_close_usd=np.array([float(r.prices[3]) for r in rows]),
        bar_volume=np.array([r.volume for r in rows]),
        has_volume=has_volume,
        filled_bars=filled,
        tick_ms=(opens[:, None] + offsets[None, :]).reshape(-1),
        tick_usd=np.array([float(p) for p in tick_prices]),
        tick_prices=tick_prices,
    )

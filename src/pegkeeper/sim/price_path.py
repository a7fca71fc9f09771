"""Price paths from 1-minute OHLC bars, as ticks for the simulated exchange.

The CSV has a header row naming at least `open_time_ms,open,high,low,close` (other columns,
such as `volume`, are ignored) and one bar per minute, without gaps. Each bar becomes four
ticks, 15 s apart: open at +0 s, then the low and the high in the order the bar most likely
went (low first when it closed at or above its open, high first otherwise), close at +45 s.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

BAR_MS = 60_000
TICK_STEP_MS = 15_000
REQUIRED_COLUMNS = ("open_time_ms", "open", "high", "low", "close")
DEMO_FILE = "btc-usd-2020-03-12-1m.csv"


@dataclass(frozen=True, slots=True)
class PriceTick:
    ts_ms: int
    price_usd: Decimal


@dataclass(frozen=True, slots=True)
class Bar:
    open_time_ms: int
    open_usd: Decimal
    high_usd: Decimal
    low_usd: Decimal
    close_usd: Decimal

    def ticks(self) -> tuple[PriceTick, ...]:
        if self.close_usd >= self.open_usd:
            middle = (self.low_usd, self.high_usd)
        else:
            middle = (self.high_usd, self.low_usd)
        prices = (self.open_usd, *middle, self.close_usd)
        return tuple(
            PriceTick(self.open_time_ms + i * TICK_STEP_MS, price) for i, price in enumerate(prices)
        )


def bundled_demo_path() -> Path:
    """The bundled day of real 1-minute BTC prices (2020-03-12, UTC)."""
    resource = files("pegkeeper.sim").joinpath("data", DEMO_FILE)
    if not isinstance(resource, Path):
        raise RuntimeError(f"{DEMO_FILE} is not a file on disk; install pegkeeper unzipped")
    return resource


def load_price_path(path: str | os.PathLike[str] | Traversable) -> list[PriceTick]:
    source = Path(path) if isinstance(path, str | os.PathLike) else path
    with source.open("r", encoding="utf-8") as lines:
        try:
            bars = parse_bars(lines)
        except ValueError as exc:
            raise ValueError(f"{exc} (in {source})") from exc
    return [tick for bar in bars for tick in bar.ticks()]


def parse_bars(lines: Iterable[str]) -> list[Bar]:
    """Bars from CSV text; a ValueError names the line (1 = the header) and the column."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise ValueError("line 1: the file is empty; expected a header row")
    columns = _column_indexes([name.strip() for name in header])
    bars: list[Bar] = []
    for row in reader:
        if not row:
            continue
        bar = _parse_row(row, columns, reader.line_num)
        if bars:
            _check_follows(bars[-1].open_time_ms, bar.open_time_ms, reader.line_num)
        bars.append(bar)
    if not bars:
        raise ValueError("line 2: no bars after the header")
    return bars


def _column_indexes(header: list[str]) -> dict[str, int]:
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ValueError(
            f"line 1: the header lacks column(s) {', '.join(missing)}; "
            f"expected {','.join(REQUIRED_COLUMNS)},volume"
        )
    return {name: header.index(name) for name in REQUIRED_COLUMNS}


def _parse_row(row: list[str], columns: dict[str, int], line: int) -> Bar:
    needed = max(columns.values()) + 1
    if len(row) < needed:
        raise ValueError(f"line {line}: expected at least {needed} columns, got {len(row)}")
    time_text = row[columns["open_time_ms"]].strip()
    if not time_text.isdigit():
        raise ValueError(
            f"line {line}: column open_time_ms: not a whole number of ms: {time_text!r}"
        )
    open_usd, high_usd, low_usd, close_usd = (
        _price(row[columns[name]], name, line) for name in ("open", "high", "low", "close")
    )
    if low_usd > min(open_usd, close_usd) or high_usd < max(open_usd, close_usd):
        raise ValueError(
            f"line {line}: column high/low: low {low_usd} and high {high_usd} "
            f"do not enclose open {open_usd} and close {close_usd}"
        )
    return Bar(int(time_text), open_usd, high_usd, low_usd, close_usd)


def _price(text: str, column: str, line: int) -> Decimal:
    try:
        price = Decimal(text.strip())
    except InvalidOperation:
        price = Decimal("NaN")
    if not price.is_finite() or price <= 0:
        raise ValueError(f"line {line}: column {column}: not a positive number: {text!r}")
    return price


def _check_follows(previous_ms: int, open_time_ms: int, line: int) -> None:
    if open_time_ms == previous_ms:
        raise ValueError(f"line {line}: column open_time_ms: duplicate time {open_time_ms}")
    if open_time_ms < previous_ms:
        raise ValueError(
            f"line {line}: column open_time_ms: unsorted: {open_time_ms} is before the "
            f"previous bar's {previous_ms}"
        )
    if open_time_ms != previous_ms + BAR_MS:
        raise ValueError(
            f"line {line}: column open_time_ms: gap of {open_time_ms - previous_ms} ms "
            f"after the previous bar; expected {BAR_MS}"
        )

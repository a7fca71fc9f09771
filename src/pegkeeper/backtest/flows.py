"""User flows for the backtester: buys (+) and sells (-) of synthetic USD, in cents.

`--flows SPEC` is one of:
- `none`: the liability stays where it starts;
- `poisson[:key=value,...]`: generated, seeded and reproducible (the same seed, path and numpy
  give the same flows). Arrivals are Poisson at `rate_per_hour`; sizes log-normal with median
  `median_usd` and log-deviation `sigma`; each is a buy with the probability that makes the
  expected net change `drift_usd_per_day`. With `stress` > 0, users also flee into USD when
  BTC falls: extra buys arrive at `rate_per_hour * stress * d`, where d is the drawdown in %
  of the last minute's close from the highest price of the `stress_window_minutes` before it
  (users react to what they have seen, never to the minute still running);
- a CSV file with a header `ts_ms,delta_cents` (epoch ms, signed whole cents), sorted by time,
  inside the price window. A sale larger than the liability at that moment is refused with
  its line: a user cannot sell USD the dealer does not owe.
A generated sale is capped at the liability at that moment.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pegkeeper.backtest.prices import BAR_MS, FloatArray, PricePath


class FlowSpecError(ValueError):
    """A flow spec or flow file that cannot be used; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class Flows:
    """Signed liability changes in cents, in time order."""

    description: str
    ts_ms: tuple[int, ...]
    delta_cents: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.ts_ms)


@dataclass(frozen=True, slots=True)
class PoissonFlows:
    rate_per_hour: float = 30.0
    median_usd: float = 500.0
    sigma: float = 1.0
    drift_usd_per_day: float = 0.0
    stress: float = 0.0
    stress_window_minutes: int = 60
    seed: int = 7

    def __post_init__(self) -> None:
        if not self.rate_per_hour > 0 or not self.median_usd > 0:
            raise FlowSpecError("rate_per_hour and median_usd must be positive")
        if self.sigma < 0 or self.stress < 0 or self.stress_window_minutes < 1:
            raise FlowSpecError("sigma and stress must be >= 0, stress_window_minutes >= 1")

    @property
    def buy_probability(self) -> float:
        mean_size_usd = self.median_usd * math.exp(self.sigma**2 / 2)
        per_day_usd = self.rate_per_hour * 24 * mean_size_usd
        return min(1.0, max(0.0, 0.5 + self.drift_usd_per_day / (2 * per_day_usd)))

    def describe(self) -> str:
        return "poisson:" + ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


def parse_flow_spec(spec: str) -> PoissonFlows | Path | None:
    """None for `none`, the generator's parameters, or a file to read."""
    text = spec.strip()
    if text == "none":
        return None
    if text == "poisson" or text.startswith("poisson:"):
        return _poisson(text.removeprefix("poisson").removeprefix(":"))
    path = Path(text)
    if not path.is_file():
        raise FlowSpecError(
            f"--flows {spec!r}: neither `none`, `poisson[:key=value,...]` nor an existing file"
        )
    return path


def _poisson(arguments: str) -> PoissonFlows:
    known = [f.name for f in fields(PoissonFlows)]
    values: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in arguments.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise FlowSpecError(
                f"--flows poisson: {item!r} is not key=value with a key among {', '.join(known)}"
            )
        try:
            values[key] = float(value)
        except ValueError:
            raise FlowSpecError(f"--flows poisson: {key}={value!r} is not a number") from None
    whole = {key: values[key] for key in ("seed", "stress_window_minutes") if key in values}
    if any(number != int(number) for number in whole.values()):
        raise FlowSpecError("--flows poisson: seed and stress_window_minutes are whole numbers")
    d = PoissonFlows()
    return PoissonFlows(
        rate_per_hour=values.get("rate_per_hour", d.rate_per_hour),
        median_usd=values.get("median_usd", d.median_usd),
        sigma=values.get("sigma", d.sigma),
        drift_usd_per_day=values.get("drift_usd_per_day", d.drift_usd_per_day),
        stress=values.get("stress", d.stress),
        stress_window_minutes=int(whole.get("stress_window_minutes", d.stress_window_minutes)),
        seed=int(whole.get("seed", d.seed)),
    )


def generate_flows(
    spec: PoissonFlows, path: PricePath, initial_cents: int, max_abs_delta_cents: int
) -> Flows:
    rng = np.random.default_rng(spec.seed)
    per_bar = spec.rate_per_hour / 60
    drawdown_pct = _drawdown_pct(path, spec.stress_window_minutes)
    base = rng.poisson(per_bar, path.bars)
    stressed = rng.poisson(per_bar * spec.stress * drawdown_pct)
    bars = np.concatenate(
        [np.repeat(np.arange(path.bars), base), np.repeat(np.arange(path.bars), stressed)]
    )
    count = len(bars)
    ts_ms = path.bar_open_ms[bars] + rng.integers(0, BAR_MS, count)
    sizes_cents = np.maximum(
        1, np.rint(rng.lognormal(math.log(spec.median_usd), spec.sigma, count) * 100)
    ).astype(np.int64)
    sizes_cents = np.minimum(sizes_cents, max_abs_delta_cents)
    buys = np.concatenate(
        [
            rng.random(int(base.sum())) < spec.buy_probability,
            np.ones(int(stressed.sum()), dtype=bool),
        ]
    )
    order = np.argsort(ts_ms, kind="stable")
    times, deltas = _capped(
        ts_ms[order].tolist(), sizes_cents[order].tolist(), buys[order].tolist(), initial_cents
    )
    return Flows(spec.describe(), times, deltas)


def _drawdown_pct(path: PricePath, window_minutes: int) -> FloatArray:
    """Per bar: the drawdown in % seen at its start (the previous close against the highest
    high of the window before it); 0 for the first bar."""
    highs = path.bar_high_usd
    padded = np.concatenate([np.full(window_minutes - 1, highs[0]), highs])
    rolling_high = sliding_window_view(padded, window_minutes).max(axis=1)
    seen: FloatArray = np.concatenate(
        [[0.0], 100 * (1 - path.bar_close_usd[:-1] / rolling_high[:-1])]
    )
    return np.maximum(seen, 0.0)


def _capped(
    times: list[int], sizes: list[int], buys: list[bool], initial_cents: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    liability = initial_cents
    kept_times: list[int] = []
    deltas: list[int] = []
    for ts, size, buy in zip(times, sizes, buys, strict=True):
        delta = size if buy else -min(size, liability)
        if delta == 0:
            continue
        liability += delta
        kept_times.append(ts)
        deltas.append(delta)
    return tuple(kept_times), tuple(deltas)


def load_flow_file(
    path: Path, start_ms: int, end_ms: int, initial_cents: int, max_abs_delta_cents: int
) -> Flows:
    try:
        with path.open("r", encoding="utf-8", newline="") as lines:
            return parse_flow_rows(
                lines, str(path), start_ms, end_ms, initial_cents, max_abs_delta_cents
            )
    except (OSError, UnicodeDecodeError) as error:
        raise FlowSpecError(f"{path}: cannot be read: {error}") from None


def parse_flow_rows(
    lines: Iterable[str],
    source: str,
    start_ms: int,
    end_ms: int,
    initial_cents: int,
    max_abs_delta_cents: int,
) -> Flows:
    reader = csv.reader(lines)
    header = [name.strip() for name in next(reader, [])]
    if "ts_ms" not in header or "delta_cents" not in header:
        raise FlowSpecError(f"{source}: line 1: expected the header ts_ms,delta_cents")
    time_index, delta_index = header.index("ts_ms"), header.index("delta_cents")
    times: list[int] = []
    deltas: list[int] = []
    liability = initial_cents
    for line, cells in enumerate(reader, start=2):
        if not cells or not any(cell.strip() for cell in cells):
            continue
        ts, delta = _flow_row(cells, time_index, delta_index, source, line)
        where = f"{source}: line {line}"
        if not start_ms <= ts <= end_ms:
            raise FlowSpecError(
                f"{where}: column ts_ms: {ts} is outside the price window {start_ms}..{end_ms}"
            )
        if times and ts < times[-1]:
            raise FlowSpecError(f"{where}: column ts_ms: unsorted: {ts} < {times[-1]}")
        if delta == 0 or abs(delta) > max_abs_delta_cents:
            raise FlowSpecError(
                f"{where}: column delta_cents: {delta} must be non-zero and at most "
                f"{max_abs_delta_cents} either way (liability.max_abs_delta_cents)"
            )
        if liability + delta < 0:
            raise FlowSpecError(
                f"{where}: column delta_cents: a sale of {-delta} cents exceeds the liability "
                f"of {liability} cents at that moment"
            )
        liability += delta
        times.append(ts)
        deltas.append(delta)
    return Flows(f"file {source}", tuple(times), tuple(deltas))


def _flow_row(
    cells: list[str], time_index: int, delta_index: int, source: str, line: int
) -> tuple[int, int]:
    try:
        return int(cells[time_index]), int(cells[delta_index])
    except (ValueError, IndexError):
        raise FlowSpecError(
            f"{source}: line {line}: expected whole numbers ts_ms,delta_cents, got {cells!r}"
        ) from None

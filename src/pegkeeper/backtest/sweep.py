"""Sweeps: a grid of backtests from one TOML file, its cells, and their summary over seeds.

The grid is setups (or hedge policies) x parameters (dotted settings keys, each with a list of
values) x price paths (prices, funding, a label) x flow seeds. Everything in the file is
checked, every file found and every cell's settings validated before anything runs; a
SweepFileError names the key and what is expected. Each cell is one backtest, run wherever
the executor puts it (backtest/sweep_pool.py), and returns its numbers or its error.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pegkeeper.backtest.data_dir import locate_input
from pegkeeper.backtest.flows import FlowSpecError, PoissonFlows, parse_flow_spec
from pegkeeper.backtest.setups import (
    DEFAULT_SETUPS,
    Setup,
    SetupError,
    apply_overrides,
    named_setup,
    policy_setup,
)
from pegkeeper.config import Settings

Parameters = tuple[tuple[str, Any], ...]  # dotted key, value; in the file's order


class SweepFileError(ValueError):
    """A sweep file that cannot be run; the message names the key and what is expected."""


# -- the file ------------------------------------------------------------------------------------


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SweepPathModel(_Table):
    prices: str
    funding: str | None = None  # None: `[backtest] funding_rate`
    label: str | None = None  # None: the file names
    fill_gaps: bool = False
    volume_unit: Literal["base", "quote"] | None = None
    funding_venue: str | None = None  # a file of several venues: which one


class SweepFlowsModel(_Table):
    spec: str | None = None  # None: `[backtest] flows`; a poisson spec without its seed
    seeds: list[int] | None = None  # None: the spec as it is, once

    @field_validator("seeds", mode="before")
    @classmethod
    def _range(cls, value: Any) -> Any:
        if isinstance(value, str):
            first, sep, last = value.partition("..")
            if not (sep and first.strip().isdigit() and last.strip().isdigit()):
                raise ValueError(
                    f"expected a list of seeds or a range 'FIRST..LAST', got {value!r}"
                )
            if int(first) > int(last):
                raise ValueError(f"expected FIRST <= LAST in {value!r}")
            return list(range(int(first), int(last) + 1))
        if not isinstance(value, list) or not value:
            raise ValueError("expected a non-empty list of seeds or a range 'FIRST..LAST'")
        if len(set(map(str, value))) < len(value):
            raise ValueError(f"expected each seed once, got {value}")
        return value


class SweepFileModel(_Table):
    setups: list[str] = Field(default_factory=list)  # empty (and no policies): the default two
    policies: list[str] = Field(default_factory=list)  # hedge policies alone
    parameters: dict[str, list[Any]] = Field(default_factory=dict)
    paths: list[SweepPathModel] = Field(min_length=1)
    flows: SweepFlowsModel = SweepFlowsModel()

    @field_validator("parameters", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, values in value.items():
                if not isinstance(values, list) or not values:
                    raise ValueError(f"{key}: expected a non-empty list of values, got {values!r}")
        return value


# -- the grid ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SweepPath:
    label: str
    prices: Path
    funding: Path | None
    fill_gaps: bool
    volume_unit: str | None
    funding_venue: str | None = None


@dataclass(frozen=True, slots=True)
class SweepCell:
    """One backtest of the grid: its coordinates, its inputs and its whole settings."""

    index: int
    path: SweepPath
    setup: str
    parameters: Parameters
    seed: int | None
    flows: str
    settings: Settings

    def coordinates(self) -> dict[str, Any]:
        return {
            "path": self.path.label,
            "setup": self.setup,
            "parameters": dict(self.parameters),
            "seed": self.seed,
        }


@dataclass(frozen=True, slots=True)
class CellOutcome:
    index: int
    metrics: dict[str, Any] | None  # PolicyMetrics.as_dict(); None when the cell failed
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Sweep:
    source: Path
    paths: tuple[SweepPath, ...]
    setups: tuple[str, ...]
    combinations: tuple[Parameters, ...]  # of the parameters; one empty when there are none
    seeds: tuple[int | None, ...]
    flows: str  # the spec, before its seed
    cells: tuple[SweepCell, ...]

    def shape(self) -> str:
        """`160 cells (4 paths x 20 seeds x 1 parameter set x 2 setups)`."""
        parts = [
            (len(self.paths), "path"),
            (len(self.seeds), "seed"),
            (len(self.combinations), "parameter set"),
            (len(self.setups), "setup"),
        ]
        grid = " x ".join(f"{n} {name}{'s' if n > 1 else ''}" for n, name in parts)
        return f"{len(self.cells)} cells ({grid})"


def load_sweep(file: Path, settings: Settings, data_dir: Path | None) -> Sweep:
    """The grid of `file`, checked whole: SweepFileError names what is wrong."""
    model = _read(file)
    paths = _paths(model.paths, data_dir)
    setups = _setups(model)
    combinations = _combinations(model.parameters)
    spec = model.flows.spec or settings.backtest.flows
    seeds: tuple[int | None, ...] = tuple(model.flows.seeds or [None])
    flows = {seed: _seeded(spec, seed) for seed in seeds}
    kind = "policies" if model.policies else "setups"
    by_run = {
        (setup.name, combination): _settings(settings, setup, combination, kind)
        for setup in setups
        for combination in combinations
    }
    # a path and seed's runs one after the other: a worker reuses its inputs
    grid = itertools.product(paths, seeds, combinations, setups)
    cells = tuple(
        SweepCell(
            i, path, setup.name, combination, seed, flows[seed], by_run[setup.name, combination]
        )
        for i, (path, seed, combination, setup) in enumerate(grid)
    )
    names = tuple(setup.name for setup in setups)
    return Sweep(file, paths, names, combinations, seeds, spec, cells)


def _read(file: Path) -> SweepFileModel:
    try:
        table = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise SweepFileError(f"sweep file {file}: cannot be read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SweepFileError(f"sweep file {file} is not valid TOML: {error}") from None
    try:
        return SweepFileModel.model_validate(table)
    except ValidationError as error:
        lines = [f"sweep file {file}:"]
        for item in error.errors():
            key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"])
            if item["type"] == "extra_forbidden":
                lines.append(f"  {key.lstrip('.')}: unknown key ({_EXPECTED_KEYS})")
                continue
            message = item["msg"].removeprefix("Value error, ")
            got = item.get("input")
            shown = (
                "" if isinstance(got, dict) or item["type"] == "value_error" else f" (got {got!r})"
            )
            lines.append(f"  {key.lstrip('.')}: {message}{shown}")
        raise SweepFileError("\n".join(lines)) from None


_EXPECTED_KEYS = (
    "expected setups or policies, [parameters], [[paths]] with prices, funding, label, "
    "fill_gaps, volume_unit, funding_venue, and [flows] with spec, seeds; see "
    "examples/sweep-crashes.toml"
)


def _paths(paths: Sequence[SweepPathModel], data_dir: Path | None) -> tuple[SweepPath, ...]:
    found = []
    for i, path in enumerate(paths):
        try:
            prices = locate_input(Path(path.prices), data_dir)
            funding = None if path.funding is None else locate_input(Path(path.funding), data_dir)
        except FileNotFoundError as error:
            raise SweepFileError(f"paths[{i}]: {error}") from None
        label = path.label or " + ".join(Path(f).name for f in (path.prices, path.funding) if f)
        found.append(
            SweepPath(label, prices, funding, path.fill_gaps, path.volume_unit, path.funding_venue)
        )
    labels = [p.label for p in found]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise SweepFileError(
            f"paths: the label {twice[0]!r} names more than one path; give each its own label"
        )
    return tuple(found)


def _setups(model: SweepFileModel) -> list[Setup]:
    if model.setups and model.policies:
        raise SweepFileError(
            "setups and policies: give one or the other (a setup names its policy)"
        )
    try:
        if model.policies:
            return [policy_setup(name) for name in dict.fromkeys(model.policies)]
        return [named_setup(name) for name in dict.fromkeys(model.setups or DEFAULT_SETUPS)]
    except SetupError as error:
        raise SweepFileError(f"setups: {error}") from None


def _combinations(parameters: dict[str, list[Any]]) -> tuple[Parameters, ...]:
    keys = list(parameters)
    return tuple(
        tuple(zip(keys, values, strict=True))
        for values in itertools.product(*(parameters[k] for k in keys))
    )


def _settings(settings: Settings, setup: Setup, combination: Parameters, kind: str) -> Settings:
    clash = [key for key, _ in combination if key in setup.overrides]
    if clash:
        raise SweepFileError(
            f"parameters.{clash[0]}: set by the setup {setup.name}; sweep it with setups or "
            "policies instead"
        )
    try:
        return apply_overrides(settings, {**setup.overrides, **dict(combination)})
    except SetupError as error:
        where = kind if not combination else "parameters"
        given = ", ".join(f"{k} = {v!r}" for k, v in combination)
        raise SweepFileError(
            f"{where} (setup {setup.name}{'; ' + given if given else ''}): {error}"
        ) from None


def _seeded(spec: str, seed: int | None) -> str:
    """The flow spec with `seed` set; checked as `--flows` would be."""
    try:
        parsed = parse_flow_spec(spec)
    except FlowSpecError as error:
        raise SweepFileError(f"flows.spec: {error}") from None
    if seed is None:
        return spec
    if not isinstance(parsed, PoissonFlows):
        raise SweepFileError(f"flows.seeds: only a poisson spec has a seed, got {spec!r}")
    arguments = spec.strip().removeprefix("poisson").removeprefix(":")
    if any(item.partition("=")[0].strip() == "seed" for item in arguments.split(",")):
        raise SweepFileError(f"flows.spec: {spec!r} sets seed; leave it to flows.seeds")
    return f"poisson:{arguments + ',' if arguments else ''}seed={seed}"


# -- the summary over seeds ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One setup and combination of parameters on one path, over the seeds."""

    path: str
    setup: str
    parameters: Parameters
    runs: int  # the seeds that ran
    failed: int
    tracking_error_rms_pct_median: float | None
    tracking_error_rms_pct_p90: float | None
    total_cost_usd_median: float | None
    min_liquidation_distance_pct: float | None  # the lowest of the seeds' minimums
    liquidated: int  # seeds in which the position was liquidated

    @property
    def name(self) -> str:
        return run_label(self.setup, self.parameters)

    def texts(self) -> list[str]:
        """The row's numbers as the tables show them, in SUMMARY_COLUMNS' order."""
        return [
            f"{self.runs}" + (f" ({self.failed} failed)" if self.failed else ""),
            _number(self.tracking_error_rms_pct_median, "{:.3f}"),
            _number(self.tracking_error_rms_pct_p90, "{:.3f}"),
            _number(self.total_cost_usd_median, "{:,.0f}"),
            _number(self.min_liquidation_distance_pct, "{:.1f}"),
            str(self.liquidated),
        ]


SUMMARY_COLUMNS = (
    ("runs", "seeds that ran (and failed)"),
    ("TE rms % median", "median over the seeds of the RMS tracking error, % of avg liability"),
    ("TE rms % p90", "90th percentile over the seeds (linear interpolation)"),
    ("cost USD median", "median over the seeds of the total cost"),
    ("min liq dist %", "the lowest of the seeds' minimum liquidation distances"),
    ("liquidated", "seeds in which the position was liquidated"),
)


def run_label(setup: str, parameters: Parameters) -> str:
    """`pegkeeper (hedger.maker_band.band_ratio=0.01)`: a setup with its parameters."""
    given = ", ".join(f"{k}={v}" for k, v in parameters)
    return f"{setup} ({given})" if given else setup


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def summarize(sweep: Sweep, outcomes: Sequence[CellOutcome]) -> list[SummaryRow]:
    """Per path, per setup and combination, in the grid's order."""
    by_index = {o.index: o for o in outcomes}
    groups: dict[tuple[str, str, Parameters], list[CellOutcome]] = {}
    for cell in sweep.cells:
        key = (cell.path.label, cell.setup, cell.parameters)
        groups.setdefault(key, []).append(by_index[cell.index])
    return [_row(*key, group) for key, group in groups.items()]


def _row(path: str, setup: str, parameters: Parameters, group: list[CellOutcome]) -> SummaryRow:
    ran = [o.metrics for o in group if o.metrics is not None]
    te, cost, distance = (
        [v for m in ran if (v := m[key]) is not None]
        for key in ("tracking_error_rms_pct", "total_cost_usd", "min_liquidation_distance_pct")
    )
    return SummaryRow(
        path=path,
        setup=setup,
        parameters=parameters,
        runs=len(ran),
        failed=len(group) - len(ran),
        tracking_error_rms_pct_median=_stat(np.median, te),
        tracking_error_rms_pct_p90=_stat(lambda v: np.percentile(v, 90), te),
        total_cost_usd_median=_stat(np.median, cost),
        min_liquidation_distance_pct=min(distance) if distance else None,
        liquidated=sum(bool(m["liquidated"]) for m in ran),
    )


def _stat(statistic: Callable[[list[float]], Any], values: list[float]) -> float | None:
    return float(statistic(values)) if values else None

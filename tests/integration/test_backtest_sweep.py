"""`pegkeeper backtest --sweep`: the cells run in worker processes (local, or a Dask cluster's)
give the numbers the same cells give run one after the other in this process; a failing cell
is reported with its coordinates; one report holds every path's table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from typer.testing import CliRunner, Result

from pegkeeper.backtest.sweep import CellOutcome, load_sweep, summarize
from pegkeeper.bootstrap.backtest import run_cell
from pegkeeper.cli import app
from pegkeeper.config import load_settings
from tests.shared_data import shared_data

DATA = shared_data()
MARCH_2020 = DATA / "btc" / "binance-btcusdt-1m-2020-03-11_14.csv"
BINANCE_FUNDING = DATA / "funding" / "binance-btcusdt-funding-8h-2020_2026.csv"
TIMING = {"events_per_second"}  # the only figure that depends on the machine's speed
runner = CliRunner()


@pytest.fixture(autouse=True)
def _keep_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command configures the process's logging; the test session keeps its own."""
    monkeypatch.setattr("pegkeeper.bootstrap.logging_setup.configure_logging", lambda *a, **k: None)
    with structlog.testing.capture_logs():
        yield


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    """2 setups x 2 seeds over the first 3 hours of March 2020, and over the same hours with
    a minute missing (every cell of that path fails)."""
    lines = MARCH_2020.read_text().splitlines()
    (tmp_path / "hours.csv").write_text("\n".join(lines[:181]) + "\n")  # the header, 180 bars
    (tmp_path / "gap.csv").write_text("\n".join(lines[:60] + lines[61:181]) + "\n")
    file = tmp_path / "sweep.toml"
    file.write_text(
        'setups = ["stablesats", "pegkeeper"]\n'
        '[flows]\nspec = "poisson:rate_per_hour=120,stress=0.5"\nseeds = [1, 2]\n'
        f'[[paths]]\nlabel = "March 2020, 3 hours"\nprices = "hours.csv"\n'
        f'funding = "{BINANCE_FUNDING}"\n'
        f'[[paths]]\nlabel = "a minute missing"\nprices = "gap.csv"\n'
        f'funding = "{BINANCE_FUNDING}"\n'
    )
    return file


def in_process(file: Path) -> list[CellOutcome]:
    sweep = load_sweep(file, load_settings(), file.parent)
    return [run_cell(cell) for cell in sweep.cells]


def invoke(file: Path, report: Path, *where: str) -> Result:
    return runner.invoke(
        app,
        ["backtest", "--sweep", str(file), "--data-dir", str(file.parent), "--json",
         "--report", str(report), *where],
    )  # fmt: skip


def numbers(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if metrics is None else {k: v for k, v in metrics.items() if k not in TIMING}


def assert_same_cells(result: Result, expected: list[CellOutcome]) -> None:
    assert result.exit_code == 1, result.output  # the cells of the gapped path failed
    cells = json.loads(result.stdout)
    assert [(c["path"], c["setup"], c["seed"]) for c in cells] == [
        (path, setup, seed)
        for path in ("March 2020, 3 hours", "a minute missing")
        for seed in (1, 2)
        for setup in ("stablesats", "pegkeeper")
    ]
    ran = cells[:4]
    assert [c["error"] for c in ran] == [None] * 4
    # 4 ticks a minute over 3 hours, and the flows: the runs went through the path
    assert all(c["events"] > 4 * 180 for c in ran)
    assert all(c["orders"] > 0 for c in ran if c["setup"] == "pegkeeper")
    for cell, outcome in zip(cells, expected, strict=True):
        got = {k: v for k, v in cell.items() if k in (outcome.metrics or {})}
        assert numbers(got or None) == numbers(outcome.metrics)
        assert cell["error"] == outcome.error
    # the minute 00:59 is missing: line 61 of the file holds 01:00
    failed = cells[4:]
    assert all("line 61: column time: a gap of 1 minute(s)" in c["error"] for c in failed)
    assert (
        "cell failed {'path': 'a minute missing', 'setup': 'pegkeeper', 'parameters': {}, "
        "'seed': 2}: " in result.stderr
    )
    assert "TE rms % median" in result.stderr  # with --json, the tables beside the progress


def assert_report_holds_the_tables(report: Path, file: Path, expected: list[CellOutcome]) -> None:
    page = report.read_text()
    assert "<script src" not in page and "<link" not in page  # nothing fetched
    assert page.count("Plotly.newPlot(") == 3  # tracking error, cost, liquidation distance
    assert "<h3>March 2020, 3 hours</h3>" in page and "<h3>a minute missing</h3>" in page
    rows = summarize(load_sweep(file, load_settings(), file.parent), expected)
    for row in rows:
        cells = "".join(f"<td>{text}</td>" for text in row.texts())
        assert f"<tr><th>{row.setup}</th>{cells}</tr>" in page
    assert "Cells that failed (4)" in page


def test_a_sweep_on_local_processes_gives_the_numbers_of_the_cells_run_in_turn(
    sweep_file: Path, tmp_path: Path
) -> None:
    expected = in_process(sweep_file)
    report = tmp_path / "sweep.html"
    result = invoke(sweep_file, report, "--workers", "2")
    assert_same_cells(result, expected)
    assert "8 cells (2 paths x 2 seeds x 1 parameter set x 2 setups) on 2 processes" in (
        result.stderr
    )
    assert_report_holds_the_tables(report, sweep_file, expected)


def test_a_sweep_on_a_dask_cluster_gives_the_same_numbers(sweep_file: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    expected = in_process(sweep_file)
    report = tmp_path / "sweep.html"
    with LocalCluster(
        n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        result = invoke(sweep_file, report, "--dask", cluster.scheduler_address)
    assert_same_cells(result, expected)
    assert f"on the Dask cluster at {cluster.scheduler_address}" in result.stderr
    assert_report_holds_the_tables(report, sweep_file, expected)

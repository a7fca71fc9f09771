"""`pegkeeper backtest --sweep FILE`: a grid of backtests on local processes or a Dask
cluster, summarized per path over the seeds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pegkeeper.config import Settings

if TYPE_CHECKING:
    from pegkeeper.backtest.sweep import CellOutcome, SummaryRow, Sweep


@dataclass(frozen=True, slots=True)
class SweepOptions:
    file: Path
    data_dir: Path | None
    workers: int
    dask: str | None  # the scheduler's address; None: local processes
    as_json: bool
    report: Path | None
    command: str


def run_sweep(
    options: SweepOptions,
    settings: Settings,
    console: Console,
    stdout: Console,
    fail: Callable[[str], NoReturn],
) -> None:
    """Checks the whole grid, runs it, prints the summary per path (or every cell's JSON),
    writes the report; exits 1 after all that when a cell failed."""
    from pegkeeper.backtest.sweep import SweepFileError, load_sweep, summarize
    from pegkeeper.backtest.sweep_pool import SweepPoolError, run_dask, run_local
    from pegkeeper.backtest.sweep_report import SweepReportContext, render_sweep_report
    from pegkeeper.bootstrap.backtest import quiet_worker_logging, run_cell

    try:
        sweep = load_sweep(options.file, settings, options.data_dir)
    except SweepFileError as error:
        fail(str(error))
    where = (
        f"the Dask cluster at {options.dask}" if options.dask else f"{options.workers} processes"
    )
    console.print(f"sweep: {sweep.shape()} on {where}", markup=False, highlight=False)
    started = time.perf_counter()
    with _progress(console) as bar:
        task = bar.add_task("cells", total=len(sweep.cells))

        def done(_outcome: CellOutcome) -> None:
            bar.advance(task)

        try:
            if options.dask:
                outcomes = run_dask(sweep.cells, run_cell, options.dask, done, quiet_worker_logging)
            else:
                outcomes = run_local(
                    sweep.cells, run_cell, options.workers, done, quiet_worker_logging
                )
        except SweepPoolError as error:
            fail(str(error))
    elapsed_s = time.perf_counter() - started
    rows = summarize(sweep, outcomes)
    failed = [o for o in outcomes if o.error is not None]
    for outcome in failed:
        cell = sweep.cells[outcome.index]
        console.print(f"cell failed {cell.coordinates()}: {outcome.error}", markup=False)
    console.print(
        f"sweep: {len(outcomes) - len(failed)} of {len(outcomes)} cells in {elapsed_s:.0f} s"
    )
    if options.report is not None:
        context = SweepReportContext(options.command, where, elapsed_s)
        try:
            options.report.write_text(
                render_sweep_report(sweep, outcomes, rows, context), encoding="utf-8"
            )
        except OSError as error:
            fail(f"--report: cannot write {options.report}: {error}")
        console.print(f"report: {options.report}")
    tables = console if options.as_json else stdout
    for table in summary_tables(sweep, rows):
        tables.print(table)
    if options.as_json:
        typer.echo(json.dumps(cell_rows(sweep, outcomes), indent=2))
    if failed:
        raise typer.Exit(1)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
    )


def cell_rows(sweep: Sweep, outcomes: Sequence[CellOutcome]) -> list[dict[str, Any]]:
    """Every cell: its coordinates, its error (null) and its numbers."""
    rows = []
    for outcome in outcomes:
        cell = sweep.cells[outcome.index]
        rows.append(
            {
                **cell.coordinates(),
                "funding_policy": cell.settings.funding.policy,
                "flows": cell.flows,
                "error": outcome.error,
                **(outcome.metrics or {}),
            }
        )
    return rows


def summary_tables(sweep: Sweep, rows: Sequence[SummaryRow]) -> list[Table]:
    from pegkeeper.backtest.sweep import SUMMARY_COLUMNS

    seeds = len(sweep.seeds)
    tables = []
    for path in sweep.paths:
        table = Table(title=f"{path.label}: {seeds} seed{'s' if seeds > 1 else ''}")
        table.add_column("setup")
        for heading, _ in SUMMARY_COLUMNS:
            table.add_column(heading, justify="right")
        for row in (r for r in rows if r.path == path.label):
            table.add_row(row.name, *row.texts())
        tables.append(table)
    return tables

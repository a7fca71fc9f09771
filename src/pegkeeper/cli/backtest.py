"""`pegkeeper backtest`: setups (or hedge policies) replayed over a real price path, compared,
and the one to choose."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pegkeeper.backtest.data_dir import DATA_DIR_ENV, locate_input
from pegkeeper.cli.backtest_sweep import SweepOptions, run_sweep
from pegkeeper.config import Settings

if TYPE_CHECKING:
    from pegkeeper.backtest.choice import Choice
    from pegkeeper.backtest.runner import PolicyResult
    from pegkeeper.bootstrap.backtest import BacktestRequest, PreparedRun

# Progress and notes on stderr; the summary (or the JSON) on stdout, for pipes and files.
WIDTH = max(160, Console(stderr=True).width)  # the summary's twelve columns, unwrapped
console = Console(stderr=True, width=WIDTH)


def register(
    app: typer.Typer,
    load_settings: Callable[[Path | None], Settings],
    fail: Callable[[str], NoReturn],
) -> None:
    @app.command("backtest")
    def backtest(
        prices: Annotated[
            Path | None,
            typer.Option("--prices", help="1-minute OHLC CSV (open_time_ms or timestamp)"),
        ] = None,
        funding: Annotated[
            Path | None,
            typer.Option("--funding", help="funding rate history (default: [backtest] rate)"),
        ] = None,
        funding_venue: Annotated[
            str | None,
            typer.Option(
                "--funding-venue",
                help="the venue to read from a --funding file of several (bybit, gate, htx, "
                "kucoin, mexc, dydx in btcusdt-funding-6venues-utc.csv)",
            ),
        ] = None,
        flows: Annotated[
            str | None,
            typer.Option(
                "--flows",
                help="none | poisson[:rate_per_hour=30,median_usd=500,sigma=1,"
                "drift_usd_per_day=0,stress=0,stress_window_minutes=60,seed=7] | a CSV "
                "ts_ms,delta_cents (default: [backtest] flows)",
            ),
        ] = None,
        policy: Annotated[
            list[str] | None,
            typer.Option(
                "--policy",
                help="stablesats | maker-band: the hedge policy alone, the rest from the "
                "settings (repeat to compare)",
            ),
        ] = None,
        setup: Annotated[
            list[str] | None,
            typer.Option(
                "--setup",
                help="stablesats | pegkeeper: a hedge policy, a funding policy and an "
                "allocation (repeat to compare; default: both, unless --policy)",
            ),
        ] = None,
        report: Annotated[
            Path | None, typer.Option("--report", help="write the HTML report here")
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="one JSON object per run (or cell) on stdout")
        ] = False,
        fill_gaps: Annotated[
            bool, typer.Option("--fill-gaps", help="fill missing minutes forward, flat")
        ] = False,
        volume_unit: Annotated[
            str | None,
            typer.Option("--volume-unit", help="the file's volume: base (BTC) or quote (USD)"),
        ] = None,
        liability_usd: Annotated[
            str | None, typer.Option("--liability-usd", help="the liability at the start")
        ] = None,
        data_dir: Annotated[
            Path | None,
            typer.Option(
                "--data-dir",
                envvar=DATA_DIR_ENV,
                help="where relative --prices and --funding files are looked up when they are "
                "not found from the current directory",
            ),
        ] = None,
        sweep: Annotated[
            Path | None,
            typer.Option(
                "--sweep",
                help="a TOML file: setups x parameters x price paths x flow seeds, run as a "
                "grid (README: Sweeps)",
            ),
        ] = None,
        workers: Annotated[
            int | None,
            typer.Option("--workers", min=1, help="a sweep's local processes (default: nproc)"),
        ] = None,
        dask: Annotated[
            str | None,
            typer.Option(
                "--dask", help="run a sweep on the Dask cluster of this scheduler, tcp://HOST:8786"
            ),
        ] = None,
        config: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    ) -> None:
        """Replay a price path through the production hedger on the simulated exchange, for
        each setup (or policy), compare tracking error, costs and liquidation risk, and say
        which setup to choose; or run a sweep of them (--sweep)."""
        from pegkeeper.bootstrap.backtest import BacktestRequest
        from pegkeeper.bootstrap.logging_setup import configure_logging

        settings = load_settings(config)
        configure_logging("error", json_format=False)  # a backtest's warnings are in its numbers
        if sweep is not None:
            given = {
                "--prices": prices, "--funding": funding, "--flows": flows, "--policy": policy,
                "--setup": setup, "--fill-gaps": fill_gaps, "--volume-unit": volume_unit,
                "--liability-usd": liability_usd, "--funding-venue": funding_venue,
            }  # fmt: skip
            _sweep_options_only(given, workers, dask, fail)
            options = SweepOptions(
                sweep, data_dir, workers or os.cpu_count() or 1, dask, as_json, report,
                _command_line(),
            )  # fmt: skip
            run_sweep(options, settings, console, Console(width=WIDTH), fail)
            return
        if workers is not None or dask is not None:
            fail("--workers and --dask: only with --sweep")
        if prices is None:
            fail("--prices: required (or --sweep FILE)")
        named = _named_settings(settings, policy or [], setup or [], fail)
        if volume_unit not in (None, "base", "quote"):
            fail(f"--volume-unit {volume_unit}: expected base or quote")
        prices = _located("--prices", prices, data_dir, fail)
        funding = None if funding is None else _located("--funding", funding, data_dir, fail)
        request = BacktestRequest(
            prices=prices,
            funding=funding,
            flows=flows,
            fill_gaps=fill_gaps,
            volume_unit=volume_unit,
            liability_usd=_usd(liability_usd, fail),
            funding_venue=funding_venue,
        )
        _run_single(settings, named, request, report, as_json, fail)


def _run_single(
    settings: Settings,
    named: Sequence[tuple[str, Settings]],
    request: BacktestRequest,
    report: Path | None,
    as_json: bool,
    fail: Callable[[str], NoReturn],
) -> None:
    """The runs one after the other, the table, the choice, the report and the JSON."""
    from pegkeeper.backtest.choice import choose
    from pegkeeper.backtest.report import ReportContext, render_report
    from pegkeeper.bootstrap.backtest import BacktestInputError, prepare_runs, run_prepared
    from pegkeeper.bootstrap.policies import UnknownPolicy

    try:
        runs = prepare_runs(named, request)
    except (BacktestInputError, ValueError) as error:
        fail(str(error))
    ticks = len(runs[0].inputs.path.tick_ms) - 1
    with _progress() as bar:
        tasks = {run.name: bar.add_task(run.name, total=ticks) for run in runs}
        try:
            results = asyncio.run(
                run_prepared(runs, lambda name, done: bar.advance(tasks[name], done))
            )
        except UnknownPolicy as error:
            fail(str(error))
    bt = settings.backtest
    choice = choose(
        [(run.name, r.metrics) for run, r in zip(runs, results, strict=True)],
        bt.liquidation_floor_pct,
        bt.choice_cost_tolerance_pct,
    )
    if report is not None:
        context = ReportContext(
            runs[0].inputs,
            runs[0].backtest,
            _command_line(),
            _funding_policies(runs),
            tuple(run.name for run in runs),
            choice,
        )
        try:
            report.write_text(render_report(results, context), encoding="utf-8")
        except OSError as error:
            fail(f"--report: cannot write {report}: {error}")
        console.print(f"report: {report}")
    # with --json stdout stays one JSON document; the table goes beside the progress
    out = console if as_json else Console(width=WIDTH)
    out.print(_summary_table(runs, results))
    out.print(f"choice: {choice.reason}", soft_wrap=True, markup=False, highlight=False)
    if as_json:
        typer.echo(json.dumps(_json_rows(runs, results, choice), indent=2))


def _sweep_options_only(
    given: Mapping[str, object],
    workers: int | None,
    dask: str | None,
    fail: Callable[[str], NoReturn],
) -> None:
    """A sweep file sets its paths, flows and setups; the command line only where it runs."""
    extra = [name for name, value in given.items() if value]
    if extra:
        fail(
            f"--sweep: leave out {', '.join(extra)}: the sweep file sets the paths, flows "
            "and setups"
        )
    if workers is not None and dask is not None:
        fail("--workers and --dask: the Dask cluster has its own workers; give one or the other")


def _named_settings(
    settings: Settings,
    policies: Sequence[str],
    setups: Sequence[str],
    fail: Callable[[str], NoReturn],
) -> list[tuple[str, Settings]]:
    """Each run's name and settings: the setups named (by default stablesats' and the
    product's), or the hedge policies named, each with the rest of the settings."""
    from pegkeeper.backtest.setups import (
        DEFAULT_SETUPS,
        SETUPS,
        SetupError,
        apply_overrides,
        named_setup,
        policy_setup,
    )
    from pegkeeper.bootstrap.policies import POLICY_NAMES

    if policies and setups:
        fail("--policy and --setup: give one or the other (a setup names its hedge policy)")
    unknown = [n for n in policies if n not in POLICY_NAMES]
    if unknown:
        fail(f"--policy {', '.join(unknown)}: unknown; expected {', '.join(POLICY_NAMES)}")
    unknown = [n for n in setups if n not in SETUPS]
    if unknown:
        fail(f"--setup {', '.join(unknown)}: unknown; expected {', '.join(SETUPS)}")
    if policies:
        chosen = [policy_setup(name) for name in dict.fromkeys(policies)]
    else:
        chosen = [named_setup(name) for name in dict.fromkeys(setups or DEFAULT_SETUPS)]
    named = []
    for one in chosen:
        try:
            named.append((one.name, apply_overrides(settings, one.overrides)))
        except SetupError as error:
            fail(f"setup {one.name}: {error}")
    return named


def _funding_policies(runs: Sequence[PreparedRun]) -> str:
    policies = {run.settings.funding.policy for run in runs}
    if len(policies) == 1:
        return policies.pop()
    return ", ".join(f"{run.name}: {run.settings.funding.policy}" for run in runs)


def _json_rows(
    runs: Sequence[PreparedRun], results: Sequence[PolicyResult], choice: Choice
) -> list[dict[str, object]]:
    """One object per run, as before setups existed, with the run's setup and the choice."""
    return [
        {
            **result.metrics.as_dict(),
            "setup": run.name,
            "funding_policy": run.settings.funding.policy,
            "qualifies": run.name in choice.qualifying,
            "chosen": run.name == choice.chosen,
            "choice": choice.reason,
        }
        for run, result in zip(runs, results, strict=True)
    ]


def _located(
    option: str, path: Path, data_dir: Path | None, fail: Callable[[str], NoReturn]
) -> Path:
    try:
        return locate_input(path, data_dir)
    except FileNotFoundError as error:
        fail(f"{option}: {error}")


def _usd(text: str | None, fail: Callable[[str], NoReturn]) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0:
        fail(f"--liability-usd {text}: expected a number of USD >= 0")
    return value


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:>12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ticks"),
        TimeElapsedColumn(),
        console=console,
    )


def _command_line() -> str:
    return "pegkeeper " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _summary_table(runs: Sequence[PreparedRun], results: Sequence[PolicyResult]) -> Table:
    table = Table(title="backtest")
    table.add_column("setup")
    table.add_column("hedge / funding")
    for heading in (
        "TE max %",
        "TE rms %",
        "TE max USD",
        "cost bps/yr",
        "cost USD",
        "orders",
        "moves",
        "min liq dist %",
        "liquidated",
        "events/s",
    ):
        table.add_column(heading, justify="right")
    for run, result in zip(runs, results, strict=True):
        m = result.metrics
        table.add_row(
            run.name,
            f"{m.policy} / {run.settings.funding.policy}",
            f"{m.tracking_error_max_pct:.3f}",
            f"{m.tracking_error_rms_pct:.3f}",
            f"{m.tracking_error_max_usd:,.0f}",
            f"{m.cost_bps_per_year:,.1f}",
            f"{m.total_cost_usd:,.0f}",
            str(m.orders),
            str(m.transfers),
            "-"
            if m.min_liquidation_distance_pct is None
            else f"{m.min_liquidation_distance_pct:.1f}",
            "yes" if m.liquidated else "no",
            f"{m.events_per_second:,.0f}",
        )
    return table

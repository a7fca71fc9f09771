"""`pegkeeper backtest`: its JSON, its report, and its refusals of bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog.testing
from typer.testing import CliRunner

from pegkeeper.cli import app

runner = CliRunner()
MIDNIGHT = 1_583_971_200_000  # 2020-03-12 00:00 UTC
HEADER = "open_time_ms,open,high,low,close,volume"
KEYS = {
    "policy",
    "tracking_error_max_pct",
    "tracking_error_rms_pct",
    "cost_bps_per_year",
    "orders",
    "transfers",
    "min_liquidation_distance_pct",
    "liquidated",
    "events_per_second",
}


@pytest.fixture(autouse=True)
def _keep_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command configures the process's logging; the test session keeps its own, and the
    services' logs are captured rather than printed among the JSON."""
    monkeypatch.setattr("pegkeeper.bootstrap.logging_setup.configure_logging", lambda *a, **k: None)
    with structlog.testing.capture_logs():
        yield


def write_prices(path: Path, minutes: int, skip: int | None = None) -> Path:
    rows, price = [], 8000.0
    for i in range(minutes):
        if i == skip:
            continue
        close = round(price * (0.995 if i % 3 else 1.004), 2)
        high, low = max(price, close), min(price, close)
        rows.append(f"{MIDNIGHT - 3_600_000 + i * 60_000},{price},{high},{low},{close},50")
        price = close
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def write_funding(path: Path, *times_ms: int) -> Path:
    path.write_text("funding_time_ms,rate\n" + "".join(f"{t},-0.0005\n" for t in times_ms))
    return path


def test_both_policies_side_by_side_in_json_and_in_the_report(tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "p.csv", 120)
    funding = write_funding(tmp_path / "f.csv", MIDNIGHT)
    report = tmp_path / "out.html"
    result = runner.invoke(
        app,
        [
            "backtest", "--prices", str(prices), "--funding", str(funding),
            "--flows", "poisson:rate_per_hour=60,median_usd=2000,stress=0.1,seed=4",
            "--policy", "stablesats", "--policy", "maker-band",
            "--liability-usd", "200000", "--report", str(report), "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["policy"] for r in rows] == ["stablesats", "maker-band"]
    assert all(set(r) >= KEYS for r in rows)
    # the one funding settlement, at -0.05 %: shorts pay; both policies hold a short then
    assert all(r["funding_usd"] > 0 and r["orders"] > 0 for r in rows)
    # with --json stdout is the JSON alone; the table goes to stderr beside the progress
    assert "TE max %" in result.stderr and "maker-band" in result.stderr
    page = report.read_text()
    assert page.count("Plotly.newPlot(") == 4  # liability, error, leverage, costs
    assert "<script src" not in page and "<link" not in page  # nothing fetched from elsewhere
    assert "maker-band" in page and "stablesats" in page and "Target ratio 1." in page


def test_a_price_file_with_a_gap_is_refused_naming_the_line(tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "p.csv", 30, skip=10)
    result = runner.invoke(app, ["backtest", "--prices", str(prices), "--flows", "none"])
    assert result.exit_code == 1
    # line 1 is the header, minute 0 line 2: minute 10 is missing, minute 11 on line 12
    assert "line 12: column time: a gap of 1 minute(s) after 2020-03-11 23:09 UTC" in result.stderr
    # forward filled when asked
    filled = runner.invoke(
        app, ["backtest", "--prices", str(prices), "--flows", "none", "--fill-gaps", "--json"]
    )
    assert filled.exit_code == 0, filled.output
    assert json.loads(filled.stdout)[0]["policy"] == "stablesats"


def test_a_funding_file_that_does_not_cover_the_prices_is_refused(tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "p.csv", 120)  # 23:00 to 00:59: the 00:00 settlement
    funding = write_funding(tmp_path / "f.csv", MIDNIGHT - 8 * 3_600_000)  # 16:00 only
    result = runner.invoke(app, ["backtest", "--prices", str(prices), "--funding", str(funding)])
    assert result.exit_code == 1
    assert "no funding rate for the settlement at 2020-03-12 00:00 UTC" in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--policy", "yolo"], "--policy yolo: unknown; expected stablesats, maker-band"),
        (["--flows", "poisson:speed=3"], "is not key=value with a key among rate_per_hour"),
        (["--volume-unit", "eur"], "--volume-unit eur: expected base or quote"),
        (["--liability-usd", "-5"], "--liability-usd -5: expected a number of USD >= 0"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, options: list[str], message: str) -> None:
    prices = write_prices(tmp_path / "p.csv", 10)
    result = runner.invoke(app, ["backtest", "--prices", str(prices), *options])
    assert result.exit_code == 1 and message in result.stderr


def test_missing_files_are_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["backtest", "--prices", str(tmp_path / "none.csv")])
    assert result.exit_code == 1 and "none.csv does not exist" in result.stderr


def test_the_summary_goes_to_stdout_and_the_progress_to_stderr(tmp_path: Path) -> None:
    write_prices(tmp_path / "p.csv", 30)
    result = runner.invoke(
        app, ["backtest", "--prices", "p.csv", "--flows", "none", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "TE max" in result.stdout and "stablesats" in result.stdout
    assert "TE max" not in result.stderr and "ticks" in result.stderr  # the progress bar


def test_the_data_directory_comes_from_the_environment(tmp_path: Path) -> None:
    write_prices(tmp_path / "p.csv", 30)
    env = {"PEGKEEPER_BACKTEST_DATA": str(tmp_path)}
    found = runner.invoke(app, ["backtest", "--prices", "p.csv", "--flows", "none"], env=env)
    assert found.exit_code == 0, found.output
    missing = runner.invoke(app, ["backtest", "--prices", "q.csv", "--flows", "none"], env=env)
    assert missing.exit_code == 1
    assert (
        f"--prices: q.csv does not exist (nor under --data-dir / "
        f"$PEGKEEPER_BACKTEST_DATA {tmp_path})" in missing.stderr
    )


def write_config(path: Path, floor_pct: float, tolerance_pct: float) -> Path:
    path.write_text(
        f"[backtest]\nliquidation_floor_pct = {floor_pct}\n"
        f"choice_cost_tolerance_pct = {tolerance_pct}\n"
    )
    return path


def test_by_default_the_stablesats_setup_beside_the_products_and_which_to_choose(
    tmp_path: Path,
) -> None:
    prices = write_prices(tmp_path / "p.csv", 120)
    funding = write_funding(tmp_path / "f.csv", MIDNIGHT)
    report = tmp_path / "out.html"
    # no floor, any cost: the closest tracker is chosen
    config = write_config(tmp_path / "c.toml", 0, 1_000_000)
    options = [
        "backtest", "--prices", str(prices), "--funding", str(funding), "--config", str(config),
        "--flows", "poisson:rate_per_hour=60,median_usd=2000,stress=0.1,seed=4",
        "--liability-usd", "200000",
    ]  # fmt: skip
    result = runner.invoke(app, [*options, "--json", "--report", str(report)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["setup"], r["policy"], r["funding_policy"]) for r in rows] == [
        ("stablesats", "stablesats", "stablesats"),
        ("pegkeeper", "maker-band", "liquidation-floor"),
    ]
    closest = min(rows, key=lambda r: r["tracking_error_rms_pct"])["setup"]
    assert [r["chosen"] for r in rows] == [r["setup"] == closest for r in rows]
    assert all(r["qualifies"] for r in rows)
    assert all(r["choice"].startswith(f"{closest}: the lowest RMS tracking error") for r in rows)
    assert f"choice: {closest}: the lowest RMS" in result.stderr  # beside the table
    page = report.read_text()
    assert "<h2>The choice</h2>" in page and f"{closest}: the lowest RMS" in page
    assert "<th>pegkeeper</th>" in page and "pegkeeper (maker-band)" in page  # its rules
    # a floor no run reaches: none is chosen, the farthest from liquidation is named
    config = write_config(tmp_path / "c.toml", 99, 10)
    table = runner.invoke(app, options)
    assert table.exit_code == 0, table.output
    farthest = max(rows, key=lambda r: r["min_liquidation_distance_pct"])["setup"]
    assert "choice: none: no run stayed at least 99 % from liquidation" in table.stdout
    assert f"the farthest from liquidation: {farthest}" in table.stdout
    # the setup's policies, in the table (the cell wraps at the slash)
    assert "maker-band /" in table.stdout and "liquidation-floor" in table.stdout


def test_one_setup_alone(tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "p.csv", 30)
    result = runner.invoke(
        app,
        ["backtest", "--prices", str(prices), "--flows", "none", "--setup", "pegkeeper", "--json"],
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert (row["setup"], row["policy"]) == ("pegkeeper", "maker-band")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--setup", "yolo"], "--setup yolo: unknown; expected stablesats, pegkeeper"),
        (
            ["--setup", "pegkeeper", "--policy", "maker-band"],
            "--policy and --setup: give one or the other",
        ),
    ],
)
def test_bad_setups_are_refused(tmp_path: Path, options: list[str], message: str) -> None:
    prices = write_prices(tmp_path / "p.csv", 10)
    result = runner.invoke(app, ["backtest", "--prices", str(prices), *options])
    assert result.exit_code == 1 and message in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--sweep", "s.toml", "--prices", "p.csv", "--setup", "pegkeeper"],
            "--sweep: leave out --prices, --setup: the sweep file sets the paths",
        ),
        (
            ["--sweep", "s.toml", "--workers", "2", "--dask", "tcp://127.0.0.1:8786"],
            "--workers and --dask: the Dask cluster has its own workers",
        ),
        (["--prices", "p.csv", "--workers", "2"], "--workers and --dask: only with --sweep"),
        ([], "--prices: required (or --sweep FILE)"),
        (["--sweep", "none.toml"], "sweep file none.toml: cannot be read"),
    ],
)
def test_sweep_options_are_checked(tmp_path: Path, options: list[str], message: str) -> None:
    write_prices(tmp_path / "p.csv", 10)
    result = runner.invoke(app, ["backtest", "--data-dir", str(tmp_path), *options])
    assert result.exit_code == 1 and message in result.stderr

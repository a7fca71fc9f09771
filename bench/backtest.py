"""Backtest throughput: simulated events per second over a month of 1-minute BTC prices, before
and after the backtester's speed work, in one run.

The calm month of the shared data (btc-perp-1m-2022-01.csv: 45 031 bars, 180 123 ticks) with
generated user flows (`poisson`, 30 trades an hour, 22 605 of them) and Binance's funding
history, run through the production hedger, liability service and collateral manager for each
policy. An event is a price tick or a user flow processed through the engine and the services;
the rate is per second of the measuring process's CPU time (one core), so other load on the
machine slows it less (but does slow it: the figures below were taken with other work running).

Each tree is measured in a process of its own, the same measurement code importing either this
tree's `src/` or the baseline's: revision BASELINE_REVISION (main before the speed work), taken
with `git archive` into a temporary directory (with this tree's generated gRPC modules, which
git ignores). The two alternate for ROUNDS rounds and the best round of each is reported; each
process prints the pegkeeper it imported, which the report shows.

Target: at least 150 000 events per second on one core for each policy. Measured on this
machine (2 cores, other work running, best of 3 rounds): stablesats 104 900 before, 169 100
after (x1.61); maker-band 99 800 before, 156 800 after (x1.57); the same orders, tracking
error and costs. Each policy runs after a full garbage collection, so that the reference
cycles the last run left are not collected during the next one's measured time.

Run: `.venv/bin/python -m bench backtest` (or `make bench`); `--json` measures this process's
pegkeeper once and prints it as JSON (what each measuring process runs).
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.shared_data import shared_data

import pegkeeper
from pegkeeper.bootstrap.backtest import (
    BacktestRequest,
    backtest_settings,
    load_inputs,
    run_policies,
)
from pegkeeper.config import load_settings

PRICES = shared_data() / "btc" / "btc-perp-1m-2022-01.csv"
FUNDING = shared_data() / "funding" / "binance-btcusdt-funding-8h-2020_2026.csv"
FLOWS = "poisson:rate_per_hour=30,seed=7"
POLICIES = ("stablesats", "maker-band")
TARGET_EVENTS_PER_SECOND = 150_000
BASELINE_REVISION = "095cff6"  # main before the speed work
ROUNDS = 3
REPO = Path(__file__).resolve().parents[1]
GENERATED = Path("pegkeeper") / "api" / "grpc" / "generated"  # under src/, git-ignored


def measure() -> dict[str, Any]:
    """Every policy once, in this process, with the pegkeeper it imports."""
    settings = load_settings()
    request = BacktestRequest(PRICES, FUNDING, FLOWS, volume_unit="quote")
    backtest = backtest_settings(settings, request)
    started = time.perf_counter()
    inputs = load_inputs(request, settings, backtest)
    load_seconds = time.perf_counter() - started
    results = []
    for policy in POLICIES:
        # a full collection now, not in the middle of the next policy's measured run (where
        # the last run's reference cycles would cost a quarter of a second)
        gc.collect()
        results += asyncio.run(run_policies([policy], settings, inputs, backtest))
    policies = []
    for result in results:
        m = result.metrics
        policies.append(
            {
                "policy": m.policy,
                "ticks": len(inputs.path.tick_ms) - 1,
                "flows": len(inputs.flows),
                "events": m.events,
                "events_per_second": m.events_per_second,
                "orders": m.orders,
                "tracking_error_max_pct": m.tracking_error_max_pct,
                "cost_bps_per_year": m.cost_bps_per_year,
            }
        )
    return {"pegkeeper": pegkeeper.__file__, "load_seconds": load_seconds, "policies": policies}


def run() -> dict[str, Any]:
    """The baseline and this tree, alternating, each in a process of its own."""
    with tempfile.TemporaryDirectory(prefix="pegkeeper-baseline-") as tmp:
        baseline_src, why_not = _baseline_src(Path(tmp))
        before: list[dict[str, Any]] = []
        after: list[dict[str, Any]] = []
        for _ in range(ROUNDS):
            if baseline_src is not None:
                try:
                    before.append(_measured_with(baseline_src))
                except RuntimeError as error:  # the measurement outgrew the baseline's API
                    baseline_src, why_not = None, f"{BASELINE_REVISION} not measured: {error}"
                    before.clear()
            after.append(_measured_with(REPO / "src"))
    return {
        "rows": _rows(before, after),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "load_seconds": min(m["load_seconds"] for m in after),
        "baseline": f"{BASELINE_REVISION} ({before[0]['pegkeeper']})" if baseline_src else why_not,
        "current": after[0]["pegkeeper"],
    }


def _baseline_src(tmp: Path) -> tuple[Path | None, str]:
    """The baseline revision's `src/` under `tmp`, or None and why it could not be had."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", BASELINE_REVISION, "src"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None, f"{BASELINE_REVISION} not measured: {archive.stderr.decode().strip()}"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp)  # this repository's own files
    generated = REPO / "src" / GENERATED
    if generated.is_dir():
        shutil.copytree(generated, tmp / "src" / GENERATED, dirs_exist_ok=True)
    return tmp / "src", ""


def _measured_with(src: Path) -> dict[str, Any]:
    """`measure()` in a new process that imports pegkeeper from `src` (this bench module and
    the shared-data lookup come from this tree in both)."""
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{REPO}"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.backtest", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the backtest bench failed with {src}:\n{done.stderr[-2000:]}")
    measured: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    if not Path(measured["pegkeeper"]).is_relative_to(src):
        raise RuntimeError(f"expected pegkeeper from {src}, imported {measured['pegkeeper']}")
    return measured


def _rows(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per policy: the best round of each tree (before: none when not measured)."""
    rows = []
    for policy in POLICIES:
        now = _best(after, policy)
        then = _best(before, policy) if before else None
        rate = now["events_per_second"]
        rows.append(
            {
                "policy": policy,
                "events": now["events"],
                "events/s before": "n/a" if then is None else f"{then['events_per_second']:,.0f}",
                "events/s after": f"{rate:,.0f}",
                "ratio": "n/a" if then is None else f"{rate / then['events_per_second']:.2f}",
                "met": "yes" if rate >= TARGET_EVENTS_PER_SECOND else "NO",
                "orders": now["orders"],
                "TE max %": f"{now['tracking_error_max_pct']:.3f}",
                "cost bps/yr": f"{now['cost_bps_per_year']:,.1f}",
                "results vs before": "n/a" if then is None else _same_results(then, now),
            }
        )
    return rows


def _best(measured: list[dict[str, Any]], policy: str) -> dict[str, Any]:
    runs = [p for m in measured for p in m["policies"] if p["policy"] == policy]
    return max(runs, key=lambda p: float(p["events_per_second"]))


def _same_results(before: dict[str, Any], after: dict[str, Any]) -> str:
    keys = ("events", "orders", "tracking_error_max_pct", "cost_bps_per_year")
    return "same" if all(before[k] == after[k] for k in keys) else "DIFFER"


def main() -> None:
    report = run()
    print(
        f"backtest: {PRICES.name}, flows {FLOWS}, nproc={report['nproc']}, "
        f"python {report['python']}, inputs read in {report['load_seconds']:.2f} s, "
        f"best of {ROUNDS} rounds; target {TARGET_EVENTS_PER_SECOND:,} events/s"
    )
    print(f"  before: {report['baseline']}")
    print(f"  after: {report['current']}")
    for row in report["rows"]:
        print("  " + ", ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    if "--json" in sys.argv[1:]:
        print(json.dumps(measure()))
    else:
        main()

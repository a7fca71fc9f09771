"""Sweep wall time: the crash sweep of examples/sweep-crashes.toml on local processes.

The four crash paths of the shared data (March 2020 with Binance's and with BitMEX's funding,
May 2021, November 2022) x 20 seeds of users fleeing into USD (`poisson:stress=0.5`) x the
stablesats and pegkeeper setups: 160 backtests of 3 to 4 days of 1-minute bars each, one
process per core (`--workers` default). Reported: the wall time from the first cell sent to
the last outcome back (the inputs read in the workers, the worker processes started), the CPU
time the cells' replays took (what one process would need, roughly), and the summary per
path over the seeds.

Run: `.venv/bin/python -m bench sweep`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tests.shared_data import shared_data

from pegkeeper.backtest.sweep import SUMMARY_COLUMNS, load_sweep, summarize
from pegkeeper.backtest.sweep_pool import run_local
from pegkeeper.bootstrap.backtest import quiet_worker_logging, run_cell
from pegkeeper.config import load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sweep-crashes.toml"


def run(workers: int | None = None) -> dict[str, Any]:
    sweep = load_sweep(EXAMPLE, load_settings(), shared_data())
    processes = workers or os.cpu_count() or 1
    started = time.perf_counter()
    outcomes = run_local(sweep.cells, run_cell, processes, initializer=quiet_worker_logging)
    wall_s = time.perf_counter() - started
    ran = [o.metrics for o in outcomes if o.metrics is not None]
    replay_cpu_s = sum(m["events"] / m["events_per_second"] for m in ran if m["events_per_second"])
    failed = [o for o in outcomes if o.error is not None]
    return {
        "rows": [
            {
                "cells": len(outcomes),
                "grid": f"{len(sweep.paths)} paths x {len(sweep.seeds)} seeds x "
                f"{len(sweep.setups)} setups",
                "processes": processes,
                "nproc": os.cpu_count(),
                "wall s": f"{wall_s:,.0f}",
                "cells/min": f"{len(outcomes) / wall_s * 60:,.1f}",
                "replay CPU s (all cells)": f"{replay_cpu_s:,.0f}",
                "failed": len(failed),
            }
        ],
        "summary": [
            {
                "path": row.path,
                "setup": row.name,
                **{
                    heading: text
                    for (heading, _), text in zip(SUMMARY_COLUMNS, row.texts(), strict=True)
                },
            }
            for row in summarize(sweep, outcomes)
        ],
        "errors": [o.error for o in failed],
        "wall_s": wall_s,
    }


def main() -> None:
    report = run()
    for row in report["rows"] + report["summary"]:
        print("  " + ", ".join(f"{k} {v}" for k, v in row.items()))
    for error in report["errors"]:
        print(f"  failed: {error}")


if __name__ == "__main__":
    main()

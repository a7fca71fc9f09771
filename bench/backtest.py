"""Backtest throughput: simulated events per second over a month of 1-minute BTC prices.

The calm month of the shared data (btc-perp-1m-2022-01.csv: 45 031 bars, 180 124 ticks) with
generated user flows (`poisson`, 30 trades an hour, about 23 000 of them) and Binance's funding
history, run through the production hedger for each policy, in this one process. An event is a
price tick or a user flow processed through the engine and the hedger; the rate is per second
of this process's CPU time (one core), so other load on the machine slows it less.

Target (the backtester's issue): at least 50 000 events per second on one core.

Run: `.venv/bin/python -m bench backtest`.
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from typing import Any

from tests.shared_data import shared_data

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
TARGET_EVENTS_PER_SECOND = 50_000


def run() -> dict[str, Any]:
    settings = load_settings()
    request = BacktestRequest(PRICES, FUNDING, FLOWS, volume_unit="quote")
    backtest = backtest_settings(settings, request)
    started = time.perf_counter()
    inputs = load_inputs(request, settings, backtest)
    load_seconds = time.perf_counter() - started
    results = asyncio.run(run_policies(POLICIES, settings, inputs, backtest))
    rows = []
    for result in results:
        m = result.metrics
        rows.append(
            {
                "policy": m.policy,
                "ticks": len(inputs.path.tick_ms) - 1,
                "flows": len(inputs.flows),
                "events": m.events,
                "events/s (one core)": f"{m.events_per_second:,.0f}",
                "met": "yes" if m.events_per_second >= TARGET_EVENTS_PER_SECOND else "NO",
                "orders": m.orders,
                "TE max %": f"{m.tracking_error_max_pct:.3f}",
                "cost bps/yr": f"{m.cost_bps_per_year:,.1f}",
            }
        )
    return {
        "rows": rows,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "load_seconds": load_seconds,
    }


def main() -> None:
    report = run()
    print(
        f"backtest: {PRICES.name}, flows {FLOWS}, nproc={report['nproc']}, "
        f"python {report['python']}, inputs read in {report['load_seconds']:.2f} s"
    )
    for row in report["rows"]:
        print("  " + ", ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()

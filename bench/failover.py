"""`python -m bench failover`: kill -9 of the active hedger 20 times (BENCH_FAILOVER_KILLS)
while users move the liability, a standby taking over each time; the time from each kill to
the first order the venue got from the new holder. It runs the suite's failover test at full
length (tests/cluster/test_hedger_failover.py), whose lease is 3 s and lookup window 4.5 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import quantiles
from typing import Any

KILLS = int(os.environ.get("BENCH_FAILOVER_KILLS", "20"))
TEST = "tests/cluster/test_hedger_failover.py::test_kill_9_of_the_active_hedger_again_and_again"


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        report = Path(directory) / "failover.json"
        env = {
            **os.environ,
            "PEGKEEPER_FAILOVER_KILLS": str(KILLS),
            "PEGKEEPER_FAILOVER_REPORT": str(report),
        }
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the failover test failed:\n{done.stdout[-4000:]}")
        seconds = sorted(json.loads(report.read_text())["failover_seconds"])
    cuts = quantiles(seconds, n=100, method="inclusive")
    return {
        "kills": len(seconds),
        "p50 s": f"{cuts[49]:.2f}",
        "p99 s": f"{cuts[98]:.2f}",
        "min s": f"{seconds[0]:.2f}",
        "max s": f"{seconds[-1]:.2f}",
        "lease s": "3",
    }

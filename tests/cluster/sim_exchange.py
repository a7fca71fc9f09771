"""`pegkeeper sim-exchange` with onchain moves settled in seconds rather than OKX's minutes, so
that a withdrawal or a deposit ends while a test runs:
`python -m tests.cluster.sim_exchange PORT ONCHAIN_MS` (a deposit credited after half of
ONCHAIN_MS and final after all of it; a withdrawal likewise)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from pegkeeper.bootstrap.sim_exchange import SimExchangeSettings, run_blocking
from pegkeeper.sim.okx_server.auth import Credentials
from tests.e2e.conftest import free_port
from tests.e2e.test_okx_operator import KEY, PHRASE, SECRET


def start_fast_sim_exchange(
    directory: Path, onchain_ms: int = 2_000
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    out = directory / "sim.out"
    command = [sys.executable, "-m", "tests.cluster.sim_exchange", str(port), str(onchain_ms)]
    process = subprocess.Popen(command, stdout=out.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while "passphrase:" not in out.read_text():
        assert process.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def main(port: int, onchain_ms: int) -> None:
    settings = SimExchangeSettings(
        port=port,
        credentials=Credentials(KEY, SECRET, PHRASE),
        deposit_confirmation_ms=onchain_ms,
        withdrawal_ms=onchain_ms,
    )
    run_blocking(settings)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))

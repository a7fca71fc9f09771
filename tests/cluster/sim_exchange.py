"""`pegkeeper sim-exchange` with onchain moves settled in seconds rather than OKX's minutes, so
that a withdrawal or a deposit ends while a test runs, and with the operator's wallet served as
a Bitcoin Core node's (at /bitcoind, its default login), blocks found every quarter of
ONCHAIN_MS: `python -m tests.cluster.sim_exchange PORT ONCHAIN_MS TRADING_BTC FUNDING_BTC` (a
deposit credited after half of ONCHAIN_MS and final after all of it; a withdrawal likewise)."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from pegkeeper.bootstrap.sim_exchange import SimBitcoindSettings, SimExchangeSettings, run_blocking
from pegkeeper.sim.okx_server.auth import Credentials
from tests.e2e.conftest import free_port
from tests.e2e.test_okx_operator import KEY, PHRASE, SECRET

WALLET_START_BTC = Decimal(100)
NODE = SimBitcoindSettings(balance_btc=WALLET_START_BTC)  # block interval: set per run


def start_fast_sim_exchange(
    directory: Path,
    onchain_ms: int = 2_000,
    trading_btc: Decimal = Decimal(2),
    funding_btc: Decimal = Decimal(1),
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    out = directory / "sim.out"
    command = [
        sys.executable, "-m", "tests.cluster.sim_exchange",
        str(port), str(onchain_ms), str(trading_btc), str(funding_btc),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=out.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while "passphrase:" not in out.read_text():
        assert process.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def wallet_env(sim_url: str) -> dict[str, str]:
    """The environment that points a pegkeeper process's bitcoind wallet at the simulator's."""
    return {
        "PEGKEEPER_FUNDING__WALLET__BITCOIND_URL": f"{sim_url}/bitcoind",
        "PEGKEEPER_FUNDING__WALLET__BITCOIND_USER": NODE.user,
        "PEGKEEPER_FUNDING__WALLET__BITCOIND_PASSWORD": NODE.password,
    }


def main(port: int, onchain_ms: int, trading_btc: Decimal, funding_btc: Decimal) -> None:
    settings = SimExchangeSettings(
        port=port,
        credentials=Credentials(KEY, SECRET, PHRASE),
        trading_btc=trading_btc,
        funding_btc=funding_btc,
        deposit_confirmation_ms=onchain_ms,
        withdrawal_ms=onchain_ms,
        bitcoind=SimBitcoindSettings(
            balance_btc=NODE.balance_btc, block_interval_ms=max(1, onchain_ms // 4)
        ),
    )
    run_blocking(settings)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), Decimal(sys.argv[3]), Decimal(sys.argv[4]))

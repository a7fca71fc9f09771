"""`pegkeeper sim-exchange` and `pegkeeper sim-fault` as subprocesses."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import ccxt
import httpx

from tests.e2e.conftest import free_port

KEYS = ("--api-key", "cli-key", "--secret-key", "cli-secret", "--passphrase", "cli-phrase")


def test_the_simulator_prints_where_it_listens_and_serves_signed_requests(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "sim.out"
    command = [sys.executable, "-m", "pegkeeper", "sim-exchange", "--port", str(port), *KEYS]
    process = subprocess.Popen(
        [*command, "--speed", "60", "--fault", "latency_ms=5", "--bitcoind-btc", "5"],
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while "passphrase:" not in out.read_text():
            assert process.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        banner = out.read_text()
        assert f"http://127.0.0.1:{port}" in banner
        assert "cli-key" in banner and "cli-secret" in banner and "cli-phrase" in banner
        assert "latency_ms=5" in banner
        url = f"http://127.0.0.1:{port}"
        # the operator's wallet, served as a Bitcoin Core node's with the printed login
        assert f"{url}/bitcoind (wallet pegkeeper, user pegkeeper-sim, password " in banner
        rpc = {"jsonrpc": "1.0", "id": 1, "method": "getbalances", "params": {}}
        login = ("pegkeeper-sim", "pegkeeper-sim-rpc")
        balances = httpx.post(f"{url}/bitcoind/wallet/pegkeeper", json=rpc, auth=login).json()
        assert balances["result"]["mine"]["trusted"] == 5
        okx = ccxt.okx({"apiKey": "cli-key", "secret": "cli-secret", "password": "cli-phrase"})
        okx.urls["api"] = {"rest": url}
        okx.options["fetchMarkets"] = {"types": ["swap"]}
        assert okx.fetch_balance()["BTC"]["total"] == 2
        switched = subprocess.run(
            [sys.executable, "-m", "pegkeeper", "sim-fault", "--url", url, "http_429=2:orders"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert switched.returncode == 0, switched.stderr
        assert '"http_429": "2:orders"' in switched.stdout
        state = httpx.get(url + "/sim/v1/faults").json()["active"]
        assert state == {"http_429": "2:orders", "latency_ms": "5"}
        refused = subprocess.run(
            [sys.executable, "-m", "pegkeeper", "sim-fault", "--url", url, "http_429=many"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert refused.returncode == 1 and "http_429" in refused.stderr
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_bad_wallet_balance_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pegkeeper", "sim-exchange", "--bitcoind-btc", "0.000000001"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "--bitcoind-btc: expected a positive number of BTC, got '0.000000001'" in result.stderr


def test_a_bad_fault_at_start_is_refused_with_its_name() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pegkeeper", "sim-exchange", "--fault", "ws_silent=maybe"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "ws_silent: expected on or off" in result.stderr

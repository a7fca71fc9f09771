"""`pegkeeper run` as an operator runs it on OKX: credentials in the environment, the OKX URL
pointed at `pegkeeper sim-exchange` (a separate process), real time, no simulated users."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Running, free_port, stop, wait_ready

KEY, SECRET, PHRASE = "op-key", "op-secret-0123456789", "op-passphrase"


def start_sim_exchange(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    out = tmp_path / "sim.out"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "pegkeeper", "sim-exchange", "--port", str(port),
            "--api-key", KEY, "--secret-key", SECRET, "--passphrase", PHRASE, "--speed", "1",
        ],
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while "passphrase:" not in out.read_text():
        assert process.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def start_pegkeeper(tmp_path: Path, sim_url: str, extra: str = "", demo: bool = False) -> Running:
    port = free_port()
    config = tmp_path / "pegkeeper.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[http]\nport = {port}\n'
        f"[demo]\nenabled = {str(demo).lower()}\n"
        "[price_server]\nenabled = false\n[peg_monitor]\nenabled = false\n"
        f'[venue]\nkind = "okx"\nrest_url = "{sim_url}"\n'
        f'ws_url = "{sim_url.replace("http", "ws")}/ws/v5"\n'
        f"{extra}"
    )
    log = tmp_path / "pegkeeper.log"
    env = {
        **os.environ,
        "PEGKEEPER_CONFIG": str(config),
        "PEGKEEPER_VENUE__API_KEY": KEY,
        "PEGKEEPER_VENUE__SECRET_KEY": SECRET,
        "PEGKEEPER_VENUE__PASSPHRASE": PHRASE,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pegkeeper", "run"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    return Running(f"http://127.0.0.1:{port}", process, config, log)


def _settled(
    client: httpx.Client, sim_url: str
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, int]]:
    """The orders, the simulator's state and the requests it received, read until the orders
    are the same before and after (no order placed between the reads)."""
    while True:
        orders = client.get("/api/v1/orders").json()["orders"]
        state = httpx.get(sim_url + "/sim/v1/state").json()
        received = httpx.get(sim_url + "/sim/v1/requests").json()["orders"]
        if client.get("/api/v1/orders").json()["orders"] == orders:
            return orders, state, received


def test_pegkeeper_hedges_on_okx_through_the_simulator_as_a_separate_process(
    tmp_path: Path,
) -> None:
    sim, sim_url = start_sim_exchange(tmp_path)
    running = start_pegkeeper(tmp_path, sim_url)
    try:
        wait_ready(running)
        log = running.log.read_text()
        assert f"venue:   OKX at {sim_url}" in log
        with running.client() as client:
            posted = client.post(
                "/api/v1/liability/events", json={"id": "op1", "delta_cents": 1_000_000}
            )
            assert posted.status_code == 201
            deadline = time.monotonic() + 30
            while True:
                orders, state, received = _settled(client, sim_url)
                if orders and all(o["state"] == "filled" for o in orders):
                    break
                not_filled = [o for o in orders if o["state"] != "filled"]
                assert time.monotonic() < deadline, f"{not_filled}\n{running.log.read_text()}"
                time.sleep(0.1)
        first = orders[-1]  # newest first: the hedge of the liability change
        assert first["venue_order_id"] and first["filled_contracts"] == "98"
        # a later order only follows the simulated price moving the target out of its band
        # (on a loaded machine the run lasts long enough); each is sent exactly once
        assert received == {o["client_order_id"]: 1 for o in orders}
        signed = sum(int(o["filled_contracts"]) * (1 if o["side"] == "buy" else -1) for o in orders)
        assert state["positions"]["BTC-USD-SWAP"] == str(signed)
        # 10 000 USD owed is 100 contracts of 100 USD at most: a second hedge of the same
        # change would about double it
        assert -100 <= signed <= -95
        for secret in (SECRET, PHRASE):
            assert secret not in running.log.read_text()
    finally:
        stop(running)
        sim.terminate()
        sim.wait(timeout=20)


def test_a_misconfigured_account_or_demo_is_refused_with_what_to_change(tmp_path: Path) -> None:
    sim, sim_url = start_sim_exchange(tmp_path)
    try:
        wrong_leverage = start_pegkeeper(tmp_path, sim_url, "leverage = 10\n")
        assert wrong_leverage.process.wait(timeout=60) == 2
        assert (
            "the cross leverage of BTC-USD-SWAP is 4: set it to 10"
            in wrong_leverage.log.read_text()
        )
        demo_dir = tmp_path / "demo"
        demo_dir.mkdir()
        with_demo = start_pegkeeper(demo_dir, sim_url, demo=True)
        assert with_demo.process.wait(timeout=60) == 2
        assert "set [demo] enabled = false" in with_demo.log.read_text()
    finally:
        sim.terminate()
        sim.wait(timeout=20)

"""`pegkeeper run` stopped and started again on the same data directory, and a start that
cannot go ahead: one line naming the setting, no traceback."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Running, free_port, start, stop

# Quiet demo (no simulated users, no funding manager): only what the test posts moves money.
QUIET = "[demo]\nenabled = false\n[funding]\nenabled = false\n"
# The first order is executed by the simulator but its answer hangs past Ctrl-C; simulated
# time runs at 600x, so the run leaves stored times far ahead of the price path's start.
HANGING = (
    "[venue]\nrequest_timeout_seconds = 120\n[sim]\nspeed = 600.0\n"
    'faults = ["timeout_after_accept=1:orders", "hang_seconds=120"]\n'
)


def _logged(running: Running) -> list[dict[str, Any]]:
    lines = running.log.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _orders(client: httpx.Client) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = client.get("/api/v1/orders").json()["orders"]
    return orders


def _until(what: str, check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def _interrupt(running: Running, sig: signal.Signals = signal.SIGINT) -> int:
    running.process.send_signal(sig)
    return running.process.wait(timeout=30)


def test_a_restarted_demo_goes_on_and_resolves_the_order_left_in_flight(tmp_path: Path) -> None:
    first = start(tmp_path, QUIET + HANGING)
    time.sleep(3)  # half an hour of simulated time
    with first.client() as client:
        client.post("/api/v1/liability/events", json={"id": "a", "delta_cents": 700_000})
        (left,) = _until("an order in flight", lambda: _orders(client), 30)
    time.sleep(1)  # the request is at the simulator, hanging
    assert _interrupt(first) == 0
    events = [e["event"] for e in _logged(first)]
    assert events[-2:] == ["store closed", "pegkeeper stopped"]
    assert "Traceback" not in first.log.read_text()
    stored = [e for e in _logged(first) if e["event"] == "liability changed"]
    assert stored

    second = start(tmp_path, QUIET, wait="up")
    try:
        banner = second.log.read_text().splitlines()
        assert "  hedging: on" in banner
        in_flight = f"  in flight: order {left['client_order_id']} on BTC-USD-SWAP is "
        assert [line for line in banner if line.startswith(in_flight)], banner
        resumed = next(e for e in _logged(second) if e["event"] == "state resumed")
        # a restart at 00:00 would see the order made half an hour in its future, and wait
        # that long (30 s at 60x) plus the window before giving it up
        assert resumed["clock_from"] > "2020-03-12 00:30:00 UTC"
        with second.client() as client:
            # the fresh simulator never saw the order: lost after the 16 s lookup window (the
            # order's 5 s expiry and the 10 s request timeout, and 1 s more), then the hedge
            # is sent again and fills
            def re_hedged() -> list[dict[str, Any]] | None:
                orders = _orders(client)
                states = {o["client_order_id"]: o["state"] for o in orders}
                done = len(orders) == 2 and states[left["client_order_id"]] == "lost"
                return orders if done and "filled" in states.values() else None

            orders = _until("the order left in flight resolved", re_hedged, 40)
            new = next(o for o in orders if o["client_order_id"] != left["client_order_id"])
            # the restarted clock went on: nothing made before the restart lies in its future
            assert new["created_at_ms"] > left["created_at_ms"]
            assert client.get("/readyz").status_code == 200
    finally:
        stop(second)


def test_sigterm_stops_every_service_and_closes_the_store(tmp_path: Path) -> None:
    running = start(tmp_path, QUIET)
    assert _interrupt(running, signal.SIGTERM) == 0
    logged = _logged(running)
    stopping = [e for e in logged if e["event"] == "stopping"]
    assert [e["signal"] for e in stopping] == ["SIGTERM"]
    assert [e["event"] for e in logged[-2:]] == ["store closed", "pegkeeper stopped"]
    assert "Traceback" not in running.log.read_text()


def _refused(tmp_path: Path, config: str, env: dict[str, str] | None = None) -> str:
    path = tmp_path / "refused.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n{config}')
    done = subprocess.run(
        [sys.executable, "-m", "pegkeeper", "run"],
        capture_output=True,
        text=True,
        timeout=90,
        env={**__import__("os").environ, "PEGKEEPER_CONFIG": str(path), **(env or {})},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "pegkeeper is running" not in done.stderr
    problems = [line for line in done.stderr.splitlines() if not line.startswith("{")]
    assert len(problems) == 1, done.stderr
    return problems[0]


def test_a_taken_port_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        grpc = f"[price_server]\nprice_port = {free_port()}\nquote_port = {free_port()}\n"
        line = _refused(tmp_path, f"[http]\nport = {port}\n{grpc}{QUIET}")
    assert line.startswith(f"cannot listen on 127.0.0.1:{port} ([http] port")


def test_a_missing_postgresql_database_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/pegkeeper_no_such_database"
    line = _refused(tmp_path, f'[store]\ndatabase_url = "{url}"\n')
    assert "cannot open the database" in line and "pegkeeper_no_such_database" in line
    assert "[store] database_url" in line


def test_an_unreachable_venue_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    keys = {f"PEGKEEPER_VENUE__{k}": "x" for k in ("API_KEY", "SECRET_KEY", "PASSPHRASE")}
    config = (
        f"[http]\nport = {free_port()}\n[demo]\nenabled = false\n[funding]\nenabled = false\n"
        f'[price_server]\nenabled = false\n[venue]\nrest_url = "http://127.0.0.1:{free_port()}"\n'
        "retry_attempts = 1\nrequest_timeout_seconds = 2\n"
    )
    line = _refused(tmp_path, config, keys)
    assert line.startswith("cannot reach OKX at http://127.0.0.1:")
    assert "[venue] rest_url" in line

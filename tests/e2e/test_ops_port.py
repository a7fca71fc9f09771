"""`pegkeeper run hedger` without `web`, with `[cluster] ops_port`: the process answers
/healthz, /readyz and /metrics on that port, beats in the process registry, and a taken ops
port stops the start with one line naming the setting."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from pegkeeper.adapters.store.database import open_store
from pegkeeper.domain.processes import ProcessRecord
from tests.e2e.conftest import free_port, start, stop

QUIET = "[demo]\nenabled = false\n[funding]\nenabled = false\n"


def cluster(port: int, name: str = "dealer-b") -> str:
    return f'[cluster]\nprocess_name = "{name}"\nops_port = {port}\n'


def wait_ready(url: str, timeout_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url + "/readyz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url}/readyz not ready after {timeout_s} s")


def registered(data_dir: Path) -> list[ProcessRecord]:
    async def read() -> list[ProcessRecord]:
        store = await open_store(f"sqlite+aiosqlite:///{data_dir / 'pegkeeper.db'}")
        try:
            return await store.processes.recent(0)
        finally:
            await store.close()

    return asyncio.run(read())


def test_a_process_without_web_answers_on_its_ops_port(tmp_path: Path) -> None:
    ops_port = free_port()
    running = start(tmp_path, QUIET + cluster(ops_port), services=("hedger",), wait="none")
    ops = f"http://127.0.0.1:{ops_port}"
    try:
        body = wait_ready(ops).json()
        assert body["status"] == "ready" and body["services"]["hedger"] == "ready"
        assert body["leases"] == [] and body["detail"] == "no leases"
        process = body["process"]
        assert process["name"] == "dealer-b" and process["services"] == ["hedger"]
        assert process["pid"] == running.process.pid and process["ops_url"] == ops
        assert httpx.get(ops + "/healthz", timeout=5).json()["status"] == "ok"
        metrics = httpx.get(ops + "/metrics", timeout=5).text
        assert 'pegkeeper_service_ready{service="hedger"} 1.0' in metrics
        assert "# TYPE pegkeeper_lease_held gauge" in metrics
        # no `web`: the HTTP port serves nothing
        try:
            httpx.get(running.url + "/healthz", timeout=2)
            raise AssertionError("the web port answered without `web`")
        except httpx.ConnectError:
            pass
        records = registered(tmp_path / "data")
        assert [r.info.process_id for r in records] == [process["id"]]
        assert records[0].info.services == ("hedger",) and records[0].info.ops_url == ops
    finally:
        stop(running)


def test_a_taken_ops_port_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "refused.toml"
        config.write_text(f'data_dir = "{tmp_path / "data"}"\n{QUIET}{cluster(port)}')
        done = subprocess.run(
            [sys.executable, "-m", "pegkeeper", "run", "hedger"],
            capture_output=True,
            text=True,
            timeout=90,
            env={**os.environ, "PEGKEEPER_CONFIG": str(config)},
        )
    assert done.returncode == 2, done.stderr
    problems = [line for line in done.stderr.splitlines() if not line.startswith("{")]
    assert len(problems) == 1, done.stderr
    assert problems[0].startswith(
        f"cannot listen on 127.0.0.1:{port} ([cluster] ops_port or PEGKEEPER_CLUSTER__OPS_PORT): "
    )

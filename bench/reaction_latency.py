"""Reaction latency: from `POST /api/v1/liability/events` returning to the hedge order being
filled at the (simulated) venue, over N events, each of which needs one order; and the OKX REST
requests the simulator received per hedge order meanwhile (its request log)."""

from __future__ import annotations

import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import httpx

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def _read_lines(stream: Any, out: queue.Queue[tuple[str, int]], sim: queue.Queue[str]) -> None:
    for line in stream:
        first, second = line.split()
        if first == "simulator":
            sim.put(second)
        else:
            out.put((first, int(second)))


def _rest_requests(client: httpx.Client, sim_url: str) -> int:
    """Every OKX REST request the simulator has received so far."""
    return int(client.get(f"{sim_url}/sim/v1/requests").json()["rest_total"])


def fresh_postgres_database(server_url: str) -> tuple[str, Any]:
    """A new empty database on `server_url` (postgresql://user@host:port/db); returns its
    SQLAlchemy URL and a function that drops it."""
    import asyncio
    import uuid

    import asyncpg

    name = f"pegkeeper_bench_{uuid.uuid4().hex[:12]}"

    async def execute(sql: str) -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    base = server_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}", lambda: asyncio.run(execute(f'DROP DATABASE "{name}" WITH (FORCE)'))


def run(database_url: str = "", label: str = "SQLite") -> dict[str, Any]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.latency_server",
                "--port",
                str(port),
                "--data-dir",
                data_dir,
                "--database-url",
                database_url,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        accepted: queue.Queue[tuple[str, int]] = queue.Queue()
        sim: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(
            target=_read_lines, args=(server.stdout, accepted, sim), daemon=True
        )
        reader.start()
        try:
            return _measure(f"http://127.0.0.1:{port}", accepted, sim, label)
        finally:
            server.terminate()
            server.wait(timeout=20)


def _measure(
    url: str, accepted: queue.Queue[tuple[str, int]], sim: queue.Queue[str], label: str
) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=10) as client:
        _wait_ready(client)
        sim_url = sim.get(timeout=10)
        after_return_ms: list[float] = []
        after_send_ms: list[float] = []
        client.post("/api/v1/liability/events", json={"id": "warm", "delta_cents": 1_000_000})
        accepted.get(timeout=10)
        time.sleep(0.5)  # the start's reads and the warm-up order's aftermath are not counted
        requests_before = _rest_requests(client, sim_url)
        for i in range(EVENTS):
            delta = 1_000_000 if i % 2 == 0 else -1_000_000  # 10 000 <-> 20 000 USD: 98 contracts
            sent_ns = time.time_ns()
            response = client.post(
                "/api/v1/liability/events", json={"id": f"e{i}", "delta_cents": delta}
            )
            returned_ns = time.time_ns()
            correlation_id = response.json()["correlation_id"]
            seen, filled_ns = accepted.get(timeout=10)
            if seen != correlation_id:
                raise RuntimeError(f"order for {seen} arrived while waiting for {correlation_id}")
            after_return_ms.append((filled_ns - returned_ns) / 1e6)
            after_send_ms.append((filled_ns - sent_ns) / 1e6)
        time.sleep(0.5)  # the last order's own reads after its fill
        rest_requests = _rest_requests(client, sim_url) - requests_before
    return {
        "store": label,
        "events": EVENTS,
        "p50 ms": round(statistics.median(after_return_ms), 2),
        "p99 ms": round(_percentile(after_return_ms, 99), 2),
        "max ms": round(max(after_return_ms), 2),
        "p50 ms from send": round(statistics.median(after_send_ms), 2),
        "p99 ms from send": round(_percentile(after_send_ms, 99), 2),
        "REST requests per hedge": round(rest_requests / EVENTS, 2),
    }


def _wait_ready(client: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the benchmark server did not become ready")

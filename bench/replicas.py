"""Price-server replicas on one machine: `pegkeeper run price-server` processes sharing the
price and quote ports (`[price_server] reuse_port`, SO_REUSEPORT: the kernel spreads the
connections), quotes stored on one fresh PostgreSQL database.

Price calls per second with 1 and 3 processes; stored quotes (GetQuoteToBuyUsd) per second
with 1 and 2 processes, beside one process on SQLite measured in the same run. Each figure is
the median of ROUNDS rounds after a warm-up round that is not counted. Every replica
quotes the bundled book file, so all of them answer alike. The load comes from separate client
processes (bench/grpc_client.py), each over several connections, measuring the same window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.grpc_quotes import _free_port, _percentile_ms, _wait_serving
from bench.reaction_latency import fresh_postgres_database

SECONDS = float(os.environ.get("BENCH_GRPC_SECONDS", "6"))
ROUNDS = int(os.environ.get("BENCH_REPLICA_ROUNDS", "5"))
WARMUP_ROUNDS = 1  # not counted: new connections, the tables' first pages, the pool growing
CLIENTS = int(os.environ.get("BENCH_REPLICA_CLIENTS", "2"))  # load processes
CHANNELS = 6  # connections per client process
INFLIGHT = 64  # in all, shared by the clients
TARGET_QUOTES_PER_S = 908  # 4 x the 227/s of one process on SQLite before group commit


class Replicas:
    """Price-server processes on one pair of ports, started one by one."""

    def __init__(self, base: Path, database_url: str, stack: ExitStack) -> None:
        self.price_port, self.quote_port = _free_port(), _free_port()
        self._base = base
        self._database_url = database_url
        self._stack = stack
        self.pids: list[int] = []

    def add(self) -> None:
        data_dir = self._base / f"replica-{len(self.pids)}"
        data_dir.mkdir()
        config = _config(data_dir, self.price_port, self.quote_port, self._database_url)
        self.pids.append(self._stack.enter_context(_process(config, self.price_port)))

    def measure(self, kind: str) -> dict[str, Any]:
        """The median round, with the CPU seconds each replica spent: how the kernel spread
        the connections."""
        before = [_cpu_seconds(pid) for pid in self.pids]
        result = _median(self.quote_port if kind == "quote" else self.price_port, kind)
        after = [_cpu_seconds(pid) for pid in self.pids]
        result["cpu_s"] = [b - a for a, b in zip(before, after, strict=True)]
        return result


def _config(data_dir: Path, price_port: int, quote_port: int, database_url: str) -> Path:
    from pegkeeper.bootstrap.pricing import bundled_book_path

    store = f'[store]\ndatabase_url = "{database_url}"\n' if database_url else ""
    config = data_dir / "pegkeeper.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\n'
        f"{store}"
        f"[http]\nport = {_free_port()}\n"
        "[demo]\nenabled = false\n[hedger]\nenabled = false\n"
        '[venue]\nkind = "sim"\n'
        f'[market_data]\nokx_book_file = "{bundled_book_path()}"\n'
        '[log]\nlevel = "warning"\n'
        f"[price_server]\nprice_port = {price_port}\nquote_port = {quote_port}\n"
        "reuse_port = true\n"
    )
    return config


@contextmanager
def _process(config: Path, price_port: int) -> Iterator[int]:
    env = {**os.environ, "PEGKEEPER_CONFIG": str(config)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pegkeeper", "run", "price-server"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        # Another replica may already serve the shared port: this one must listen on it too.
        _wait_serving(f"127.0.0.1:{price_port}", process)
        _wait_bound(process, price_port)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_bound(process: subprocess.Popen[bytes], port: int, timeout_s: float = 60) -> None:
    """Until `process` itself listens on `port` (others may already be serving it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"a replica exited with {process.returncode}")
        if port in _listening_ports(process.pid):
            return
        time.sleep(0.2)
    raise RuntimeError(f"replica {process.pid} not listening on {port} after {timeout_s} s")


def _listening_ports(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _load(port: int, kind: str) -> dict[str, Any]:
    start_at = time.time() + 3  # after every client's warm-up
    command = [
        sys.executable,
        "-m",
        "bench.grpc_client",
        "--target",
        f"127.0.0.1:{port}",
        "--kind",
        kind,
        "--inflight",
        str(INFLIGHT // CLIENTS),
        "--channels",
        str(CHANNELS),
        "--seconds",
        str(SECONDS),
        "--start-at",
        str(start_at),
    ]
    clients = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(CLIENTS)]
    raws = []
    for client in clients:
        out, _ = client.communicate(timeout=600)
        if client.returncode != 0:
            raise RuntimeError(f"a load client exited with {client.returncode}")
        raws.append(json.loads(out))
    latencies = [latency for raw in raws for latency in raw["latencies"]]
    return {
        "calls_per_s": sum(raw["calls"] / raw["seconds"] for raw in raws),
        "p50_ms": _percentile_ms(latencies, 50),
        "p99_ms": _percentile_ms(latencies, 99),
        "errors": sum(raw["errors"] for raw in raws),
    }


def _median(port: int, kind: str) -> dict[str, Any]:
    for _ in range(WARMUP_ROUNDS):
        _load(port, kind)
    rounds = [_load(port, kind) for _ in range(ROUNDS)]
    chosen = dict(sorted(rounds, key=lambda r: r["calls_per_s"])[len(rounds) // 2])
    chosen["errors"] = sum(r["errors"] for r in rounds)
    chosen["rounds"] = [round(r["calls_per_s"]) for r in rounds]
    return chosen


def measure(postgres_server: str) -> dict[str, dict[str, Any]]:
    """Keys: "price 1", "price 3", "quotes PostgreSQL 1", "quotes PostgreSQL 2",
    "quotes SQLite 1"."""
    results: dict[str, dict[str, Any]] = {}
    url, drop = fresh_postgres_database(postgres_server)
    try:
        with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
            replicas = Replicas(Path(tmp), url, stack)
            replicas.add()
            results["price 1"] = replicas.measure("price")
            results["quotes PostgreSQL 1"] = replicas.measure("quote")
            replicas.add()
            results["quotes PostgreSQL 2"] = replicas.measure("quote")
            replicas.add()
            results["price 3"] = replicas.measure("price")
    finally:
        drop()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        sqlite = Replicas(Path(tmp), "", stack)
        sqlite.add()
        results["quotes SQLite 1"] = sqlite.measure("quote")
    return results


def rows(results: dict[str, dict[str, Any]]) -> list[dict[str, object]]:
    table: list[dict[str, object]] = []
    for name, result in results.items():
        kind, *store, processes = name.split()
        table.append(
            {
                "calls": "price" if kind == "price" else "stored quotes",
                "store": store[0] if store else "-",
                "processes": processes,
                "calls/s": f"{result['calls_per_s']:,.0f}",
                "p50 ms": f"{result['p50_ms']:.2f}",
                "p99 ms": f"{result['p99_ms']:.2f}",
                "errors": result["errors"],
                "rounds": " ".join(str(r) for r in result["rounds"]),
                "CPU s per process": " ".join(f"{s:.1f}" for s in result["cpu_s"]),
            }
        )
    return table


def verdicts(results: dict[str, dict[str, Any]]) -> list[tuple[str, bool]]:
    ratio = results["price 3"]["calls_per_s"] / results["price 1"]["calls_per_s"]
    lines = [
        (
            f"price calls: 3 processes {ratio:.2f} x 1 process (not a target: {os.cpu_count()} "
            "cores, servers and clients CPU-bound together)",
            True,
        )
    ]
    for n in (1, 2):
        rate = results[f"quotes PostgreSQL {n}"]["calls_per_s"]
        lines.append(
            (
                f"stored quotes on PostgreSQL, {n} process(es): {rate:,.0f}/s "
                f"(target >= {TARGET_QUOTES_PER_S})",
                rate >= TARGET_QUOTES_PER_S,
            )
        )
    errors = sum(r["errors"] for r in results.values())
    lines.append((f"{errors} errors (target 0)", errors == 0))
    return lines

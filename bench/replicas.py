"""Price-server replicas on one machine: `pegkeeper run price-server` processes sharing the
price and quote ports (`[price_server] reuse_port`, SO_REUSEPORT: the kernel spreads the
connections), quotes stored on one fresh PostgreSQL database.

Price calls per second with 1 and 3 processes; stored quotes (GetQuoteToBuyUsd) per second
with 1 and 2 processes, beside one process on SQLite measured in the same run. Every replica
quotes the bundled book file, so all of them answer alike.

The load comes from separate client processes (bench/grpc_client.py), each over several
connections. Each round, every client first loads the servers for a second of its own, then
all of them start one window of SECONDS together and count the calls that ended in it. Each
figure is the median of ROUNDS rounds, after a warm-up round that is not counted, and every
round is shown. For stored quotes, the rows in the store must have grown by at least the
quotes answered (a quote is stored before it is answered); any shortfall counts as errors.
The machine may be shared with other work: the CPU that the servers, the clients,
PostgreSQL's backends and all other processes used in each window is read from /proc and
shown beside the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.cpu_share import Sample, sample, shares
from bench.grpc_quotes import _free_port, _percentile_ms, _wait_serving
from bench.reaction_latency import fresh_postgres_database

SECONDS = float(os.environ.get("BENCH_REPLICA_SECONDS", "10"))  # one round's window
ROUNDS = int(os.environ.get("BENCH_REPLICA_ROUNDS", "5"))
WARMUP_ROUNDS = 1  # not counted: new connections, the tables' first pages, the pool growing
CLIENT_WARMUP_SECONDS = 1.0  # each client's own load before every window, not counted
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
        """The median round, with every round's figures."""
        for _ in range(WARMUP_ROUNDS):
            self._round(kind)
        rounds = [self._round(kind) for _ in range(ROUNDS)]
        chosen = dict(sorted(rounds, key=lambda r: r["calls_per_s"])[len(rounds) // 2])
        chosen["errors"] = sum(r["errors"] for r in rounds)
        chosen["unstored"] = sum(r["unstored"] for r in rounds)
        chosen["rounds"] = [round(r["calls_per_s"]) for r in rounds]
        chosen["others"] = [r["cpu"]["others"] for r in rounds]
        chosen["late_s"] = max(r["late_s"] for r in rounds)
        return chosen

    def _round(self, kind: str) -> dict[str, Any]:
        """One window of load from CLIENTS processes that start it together."""
        port = self.quote_port if kind == "quote" else self.price_port
        stored = self.stored_quotes() if kind == "quote" else 0
        clients = [_client(port, kind) for _ in range(CLIENTS)]
        try:
            for client in clients:
                assert client.stdout is not None
                if client.stdout.readline().strip() != "ready":
                    raise RuntimeError("a load client did not get ready")
            start = time.time() + 0.2
            for client in clients:
                assert client.stdin is not None
                client.stdin.write(f"{start!r}\n")
                client.stdin.flush()
            before, after = self._window(start)
            raws = []
            for client in clients:
                out, _ = client.communicate(timeout=600)
                if client.returncode != 0:
                    raise RuntimeError(f"a load client exited with {client.returncode}")
                raws.append(json.loads(out))
        finally:
            for client in clients:
                if client.poll() is None:
                    client.kill()
                    client.wait()
        answered = sum(raw["ok"] for raw in raws)
        unstored = max(0, answered - (self.stored_quotes() - stored)) if kind == "quote" else 0
        latencies = [latency for raw in raws for latency in raw["latencies"]]
        return {
            "calls_per_s": sum(raw["calls"] for raw in raws) / SECONDS,
            "p50_ms": _percentile_ms(latencies, 50),
            "p99_ms": _percentile_ms(latencies, 99),
            "errors": sum(raw["errors"] for raw in raws) + unstored,
            "unstored": unstored,
            "late_s": max(raw["late_s"] for raw in raws),
            "cpu": shares(before, after, sum(raw["cpu_s"] for raw in raws)),
        }

    def _window(self, start: float) -> tuple[Sample, Sample]:
        """CPU samples at the start and the end of the window."""
        database = self._database_pids()
        time.sleep(max(0.0, start - time.time()))
        before = sample(self.pids, database)
        time.sleep(max(0.0, start + SECONDS - time.time()))
        return before, sample(self.pids, database)

    def stored_quotes(self) -> int:
        """Quotes in the replicas' store (PostgreSQL, or each replica's SQLite file)."""
        if self._database_url:
            return int(_postgres(self._database_url, "SELECT count(*) FROM quotes")[0])
        total = 0
        for database in self._base.glob("replica-*/pegkeeper.db"):
            with sqlite3.connect(database, timeout=30) as connection:
                total += connection.execute("SELECT count(*) FROM quotes").fetchone()[0]
        return total

    def _database_pids(self) -> list[int]:
        """PostgreSQL's backends serving the replicas (their pool's connections)."""
        if not self._database_url:
            return []
        sql = (
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [int(pid) for pid in _postgres(self._database_url, sql)]


def _postgres(database_url: str, sql: str) -> list[Any]:
    """The first column of a query's rows."""
    import asyncpg

    async def fetch() -> list[Any]:
        connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            return [row[0] for row in await connection.fetch(sql)]
        finally:
            await connection.close()

    return asyncio.run(fetch())


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


def _client(port: int, kind: str) -> subprocess.Popen[str]:
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
        "--warmup-seconds",
        str(CLIENT_WARMUP_SECONDS),
        "--wait-start",
    ]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


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
    """One line per measurement: the median round's figures, every round's calls/s, and the
    cores each part used in the median round (other processes: the range over the rounds)."""
    table: list[dict[str, object]] = []
    for name, result in results.items():
        _, *store, processes = name.split()
        cpu = result["cpu"]
        used = [" + ".join(f"{c:.2f}" for c in cpu["servers"]), f"{cpu['clients']:.2f}"]
        if store == ["PostgreSQL"]:
            used.append(f"{cpu['database']:.2f}")
        table.append(
            {
                "calls": f"stored quotes, {store[0]}" if store else "price",
                "processes": processes,
                "calls/s": f"{result['calls_per_s']:,.0f}",
                "rounds": " ".join(str(r) for r in result["rounds"]),
                "p50 / p99 ms": f"{result['p50_ms']:.1f} / {result['p99_ms']:.1f}",
                "errors": result["errors"],
                "cores: servers / clients / PostgreSQL": " / ".join(used),
                "others' cores": f"{min(result['others']):.2f}-{max(result['others']):.2f}",
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
        result = results[f"quotes PostgreSQL {n}"]
        slowest = min(result["rounds"])
        lines.append(
            (
                f"stored quotes on PostgreSQL, {n} process(es): median {result['calls_per_s']:,.0f}"
                f"/s, slowest round {slowest:,}/s (target: every round >= {TARGET_QUOTES_PER_S})",
                slowest >= TARGET_QUOTES_PER_S,
            )
        )
    unstored = sum(r["unstored"] for r in results.values())
    lines.append((f"{unstored} quotes answered but not found stored (target 0)", unstored == 0))
    errors = sum(r["errors"] for r in results.values())
    lines.append((f"{errors} errors (target 0)", errors == 0))
    others = [share for r in results.values() for share in r["others"]]
    late = max(r["late_s"] for r in results.values())
    lines.append(
        (
            f"the machine's other processes used {min(others):.2f} to {max(others):.2f} of "
            f"{os.cpu_count()} cores during the windows (median "
            f"{statistics.median(others):.2f}); the latest client started {late * 1000:.0f} ms "
            "into its window",
            True,
        )
    )
    return lines

"""A cluster of `pegkeeper run` processes on one PostgreSQL database and the OKX simulator
(`pegkeeper sim-exchange`, its own process): started, paused at a point of the order path,
killed, woken, and read through the database and the simulator."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.e2e.conftest import free_port
from tests.e2e.test_okx_operator import KEY, PHRASE, SECRET, start_sim_exchange

LEASE_TTL_SECONDS = 3.0
REDIS_URL = "redis://127.0.0.1:6379/0"
FUNDING_OFF = "[funding]\nenabled = false\n"

SimStarter = Callable[[Path], tuple[subprocess.Popen[bytes], str]]


@dataclass
class Process:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    http_url: str = ""
    ops_url: str = ""

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """/readyz of the process's ops port: (status code, body); (0, {}) before it listens."""
        try:
            answer = httpx.get(self.ops_url + "/readyz", timeout=5)
        except httpx.ConnectError:
            return 0, {}
        return answer.status_code, dict(answer.json())

    @property
    def pid(self) -> int:
        return self.process.pid

    def stopped(self) -> bool:
        """Stopped by a signal (it paused itself at a test point, or was SIGSTOPped)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat.rpartition(")")[2].split()[0] == "T"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """kill -9, as a crashed machine or an OOM kill would."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=20)

    def wake(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if not self.alive():
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    """Processes sharing `database_url` (PostgreSQL) and the simulator at `sim_url`.
    `funding`: the [funding] section of every process's configuration (with its
    subsections)."""

    directory: Path
    database_url: str
    sim: subprocess.Popen[bytes]
    sim_url: str
    processes: list[Process] = field(default_factory=list)
    started: int = 0
    funding: str = FUNDING_OFF
    redis_url: str = REDIS_URL  # the bus: Redis Streams under a prefix of this cluster's own
    stream_prefix: str = field(default_factory=lambda: f"pk-test-{secrets.token_hex(4)}")
    env: dict[str, str] = field(default_factory=dict)  # every process's, besides the venue keys

    def config(self, extra: str = "", database_url: str = "", ops_port: int = 0) -> Path:
        path = self.directory / f"pegkeeper-{self.started}.toml"
        path.write_text(
            f'data_dir = "{self.directory / "data"}"\n'
            f'[store]\ndatabase_url = "{database_url or self.database_url}"\n'
            f"[demo]\nenabled = false\n{self.funding}"
            "[price_server]\nenabled = false\n[peg_monitor]\nenabled = false\n"
            "[hedger]\ncheck_interval_seconds = 0.5\norder_lookup_window_seconds = 4.0\n"
            f"[cluster]\nlease_ttl_seconds = {LEASE_TTL_SECONDS}\nops_port = {ops_port}\n"
            f'[bus]\nkind = "redis"\nredis_url = "{self.redis_url}"\n'
            f'stream_prefix = "{self.stream_prefix}"\n'
            f'[venue]\nkind = "okx"\nrest_url = "{self.sim_url}"\n'
            f'ws_url = "{self.sim_url.replace("http", "ws")}/ws/v5"\n'
            "request_timeout_seconds = 2.0\norder_expiry_seconds = 1.5\n"
            f"{extra}"
        )
        return path

    def start(
        self,
        *services: str,
        env: dict[str, str] | None = None,
        extra: str = "",
        database_url: str = "",
    ) -> Process:
        """`services` as one process; its probes on an ops port of their own."""
        self.started += 1
        name = f"{'+'.join(services)}-{self.started}"
        port, ops_port = free_port(), free_port()
        config = self.config(f"{extra}[http]\nport = {port}\n", database_url, ops_port)
        log = self.directory / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "pegkeeper", "run", *services],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "PEGKEEPER_CONFIG": str(config),
                "PEGKEEPER_CLUSTER__PROCESS_NAME": name,
                "PEGKEEPER_VENUE__API_KEY": KEY,
                "PEGKEEPER_VENUE__SECRET_KEY": SECRET,
                "PEGKEEPER_VENUE__PASSPHRASE": PHRASE,
                **self.env,
                **(env or {}),
            },
        )
        running = Process(
            name, process, log, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}"
        )
        self.processes.append(running)
        return running

    def wait_http(self, process: Process, path: str = "/readyz", timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert process.alive(), process.output()
            try:
                if httpx.get(process.http_url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{process.name} not ready:\n{process.output()}")

    def venue_state(self) -> dict[str, Any]:
        return dict(httpx.get(self.sim_url + "/sim/v1/state", timeout=10).json())

    def order_requests(self) -> dict[str, int]:
        """Placement requests the simulator received, by client order id."""
        return self._requests("orders")

    def transfer_requests(self) -> dict[str, int]:
        """Transfer requests the simulator received, by client id."""
        return self._requests("transfers")

    def withdrawal_requests(self) -> dict[str, int]:
        """Withdrawal requests the simulator received, by client id."""
        return self._requests("withdrawals")

    def wallet_sends(self) -> dict[str, int]:
        """sendtoaddress requests the simulator's wallet received, by comment (the operation's
        client id)."""
        return self._requests("wallet_sends")

    def wallet(self) -> dict[str, Any]:
        """The simulator's wallet, brought up to now: balance, payments, the exchange's
        deposits."""
        return dict(httpx.get(self.sim_url + "/sim/v1/wallet", timeout=10).json())

    def _requests(self, kind: str) -> dict[str, int]:
        answer = httpx.get(self.sim_url + "/sim/v1/requests", timeout=10).json()
        return dict(answer[kind])

    def close(self) -> None:
        for process in self.processes:
            process.stop()
        _delete_streams(self.redis_url, self.stream_prefix)
        self.sim.terminate()
        self.sim.wait(timeout=20)


def _delete_streams(redis_url: str, prefix: str) -> None:
    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(redis_url)
        try:
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
        finally:
            client.close()


@contextlib.contextmanager
def cluster_of(
    directory: Path,
    database_url: str,
    start_sim: SimStarter = start_sim_exchange,
    funding: str = FUNDING_OFF,
    redis_url: str = REDIS_URL,
) -> Iterator[Cluster]:
    sim, sim_url = start_sim(directory)
    cluster = Cluster(directory, database_url, sim, sim_url, funding=funding, redis_url=redis_url)
    try:
        yield cluster
    finally:
        cluster.close()


def tail(process: Process, lines: int = 40) -> str:
    return "\n".join(process.output().splitlines()[-lines:])

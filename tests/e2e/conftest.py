"""`pegkeeper run` as a subprocess, driven through its public interfaces only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    url: str
    process: subprocess.Popen[bytes]
    config: Path
    log: Path
    price_address: str = ""  # host:port of the gRPC price service
    quote_address: str = ""  # host:port of the gRPC quote service

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A client command pointed at this instance's HTTP address."""
        return self.cli_only(*args, "--url", self.url)

    def cli_only(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pegkeeper", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )


def start(
    tmp_path: Path,
    extra: str = "",
    services: tuple[str, ...] = (),
    *,
    env: dict[str, str] | None = None,
    port: int | None = None,
    wait: str = "ready",
) -> Running:
    """`wait="ready"`: until /readyz answers 200; `"up"`: until /healthz does (for a start
    where some service is meant to stay not ready); `"none"`: not at all."""
    port = port or free_port()
    config = tmp_path / "pegkeeper.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[http]\nport = {port}\n{extra}')
    log = tmp_path / "pegkeeper.log"
    price_port, quote_port = free_port(), free_port()
    env = {
        **os.environ,
        "PEGKEEPER_CONFIG": str(config),
        "PEGKEEPER_PRICE_SERVER__PRICE_PORT": str(price_port),
        "PEGKEEPER_PRICE_SERVER__QUOTE_PORT": str(quote_port),
        **(env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pegkeeper", "run", *services],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    running = Running(
        f"http://127.0.0.1:{port}",
        process,
        config,
        log,
        f"127.0.0.1:{price_port}",
        f"127.0.0.1:{quote_port}",
    )
    if wait != "none":
        try:
            wait_ready(running, path="/readyz" if wait == "ready" else "/healthz")
        except BaseException:
            stop(running)  # a fixture that failed to start gets no teardown
            raise
    return running


def wait_ready(running: Running, timeout_s: float = 120, path: str = "/readyz") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"pegkeeper exited early:\n{running.log.read_text()}")
        try:
            if httpx.get(running.url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"pegkeeper not ready after {timeout_s} s:\n{running.log.read_text()}")


def stop(running: Running) -> None:
    running.process.terminate()
    try:
        running.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()


@pytest.fixture
def quiet_instance(tmp_path: Path) -> Iterator[Running]:
    """The demo without its simulated users: only what the test posts moves the liability.
    The hedge loop alone: no funding manager moving the collateral around it (see
    test_funding.py for the two together)."""
    running = start(tmp_path, "[demo]\nenabled = false\n[funding]\nenabled = false\n")
    yield running
    stop(running)

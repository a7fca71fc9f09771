"""A local Ethereum node: anvil from the npm registry (`make tools` installs it into
node_modules/), started as a child process on a free port of 127.0.0.1. The embedded equities
demo, the benchmarks and the tests run the chain side against it."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 20.0
KEPT_STATES = 64  # blocks whose state a restarted node still answers calls at
STATE_INTERVAL_S = 30
_PR_SET_PDEATHSIG = 1
INSTALL_HINT = "run `make tools` (npm ci installs @foundry-rs/anvil and solc into node_modules/)"


def node_modules_dirs() -> list[Path]:
    """Where `make tools` puts the npm packages: the working directory's node_modules/, and
    the source checkout's when pegkeeper runs from one."""
    checkout = Path(__file__).resolve().parents[4]
    return list(dict.fromkeys([Path.cwd() / "node_modules", checkout / "node_modules"]))


def anvil_path() -> Path | None:
    """The anvil binary: the platform package's own (no node wrapper between pegkeeper and the
    process it stops), else the npm wrapper, else one on PATH; PEGKEEPER_ANVIL overrides."""
    override = os.environ.get("PEGKEEPER_ANVIL")
    if override:
        return Path(override) if os.access(override, os.X_OK) else None
    for node_modules in node_modules_dirs():
        for candidate in sorted(node_modules.glob("@foundry-rs/anvil-*/bin/anvil")):
            if os.access(candidate, os.X_OK):
                return candidate
        wrapper = node_modules / ".bin" / "anvil"
        if wrapper.exists():
            return wrapper
    found = shutil.which("anvil")
    return Path(found) if found else None


def _stop_with_parent() -> None:
    """In the child before anvil starts: Linux sends it SIGTERM when the thread that started
    it ends, so a pegkeeper (or a test run) killed outright leaves no node behind."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rpc(url: str, method: str, params: list[object] | None = None) -> object:
    """One synchronous JSON-RPC call (for setup and teardown outside the event loop)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        reply = json.loads(answer.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


class AnvilNode:
    """One anvil process on a free port of 127.0.0.1, mining a block per transaction, or one
    every `block_time_s` seconds; with a `state_path`, the chain is kept there across restarts."""

    def __init__(
        self, binary: Path, *, block_time_s: int | None = None, state_path: Path | None = None
    ) -> None:
        self.binary = binary
        self.block_time_s = block_time_s
        self.state_path = state_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # Without a block time anvil mines one block per transaction: the caller sets the pace.
        pace = ["--block-time", str(self.block_time_s)] if self.block_time_s else []
        if self.state_path is not None:
            # the chain (its blocks, and the states of the last blocks for reads at a fill's
            # block) survives a restart; saved on exit and every STATE_INTERVAL_S (a crash
            # loses at most that much chain, which ingestion then sees as a reorg)
            pace += ["--state", str(self.state_path), "--state-interval", str(STATE_INTERVAL_S)]
            pace += ["--preserve-historical-states", "--prune-history", str(KEPT_STATES)]
        self._process = subprocess.Popen(
            [str(self.binary), "--host", "127.0.0.1", "--port", str(self.port), "--silent", *pace],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_stop_with_parent,  # a signal setting only: safe before exec
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"anvil exited with {self._process.returncode}: {stderr}")
            try:
                rpc(self.url, "eth_chainId")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"anvil did not answer on {self.url} within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()


@contextmanager
def running_anvil(binary: Path, *, block_time_s: int | None = None) -> Iterator[AnvilNode]:
    node = AnvilNode(binary, block_time_s=block_time_s)
    node.start()
    try:
        yield node
    finally:
        node.stop()

"""A real local Ethereum node for tests: anvil and solcjs from the npm registry (installed into
node_modules/ by `make tools`, a prerequisite of `make test`).

When either is missing the tests that need them are skipped, or fail when CI is "true".
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest

from pegkeeper.sim.raindex.artifacts import Artifact, artifacts_from_document
from pegkeeper.sim.raindex.compile import compile_contracts

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO / "node_modules"
START_TIMEOUT_S = 20.0
INSTALL_HINT = "run `make tools` (npm ci installs @foundry-rs/anvil and solc into node_modules/)"


def anvil_path() -> Path | None:
    """The anvil binary: the platform package's own (no node wrapper between the test and the
    process it stops), else the npm wrapper, else one on PATH."""
    override = os.environ.get("PEGKEEPER_ANVIL")
    if override:
        return Path(override) if os.access(override, os.X_OK) else None
    for candidate in sorted(NODE_MODULES.glob("@foundry-rs/anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return candidate
    wrapper = NODE_MODULES / ".bin" / "anvil"
    if wrapper.exists():
        return wrapper
    found = shutil.which("anvil")
    return Path(found) if found else None


def solcjs_path() -> Path | None:
    override = os.environ.get("PEGKEEPER_SOLCJS")
    if override:
        return Path(override) if Path(override).exists() else None
    local = NODE_MODULES / ".bin" / "solcjs"
    if local.exists() and shutil.which("node"):
        return local
    return None


def require(tool: Path | None, name: str) -> Path:
    """The tool, or the test skipped (failed when CI is "true") with how to get it."""
    if tool is not None:
        return tool
    message = f"{name} is not installed: {INSTALL_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true requires it")
    pytest.skip(message)


@cache
def compiled_contracts(solcjs: Path) -> dict[str, Artifact]:
    """The test contracts compiled from their sources, once per test session."""
    return artifacts_from_document(compiled_document(solcjs))


@cache
def compiled_document(solcjs: Path) -> dict[str, object]:
    return compile_contracts(solcjs)


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
    """One anvil process on a free port of 127.0.0.1, mining a block per transaction."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # No --block-time: automine, one block per transaction, so tests set the pace.
        self._process = subprocess.Popen(
            [str(self.binary), "--host", "127.0.0.1", "--port", str(self.port), "--silent"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
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
def running_anvil(binary: Path) -> Iterator[AnvilNode]:
    node = AnvilNode(binary)
    node.start()
    try:
        yield node
    finally:
        node.stop()

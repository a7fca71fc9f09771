"""The test side of the local Ethereum node: solcjs for compiling the test contracts, and
skipping (failing when CI is "true") when a tool is missing."""

from __future__ import annotations

import os
import shutil
from functools import cache
from pathlib import Path

import pytest

from pegkeeper.adapters.chain.anvil import (
    INSTALL_HINT,
    AnvilNode,
    anvil_path,
    free_port,
    node_modules_dirs,
    rpc,
    running_anvil,
)
from pegkeeper.sim.raindex.artifacts import Artifact, artifacts_from_document
from pegkeeper.sim.raindex.compile import compile_contracts

__all__ = ["AnvilNode", "anvil_path", "free_port", "rpc", "running_anvil"]


def solcjs_path() -> Path | None:
    override = os.environ.get("PEGKEEPER_SOLCJS")
    if override:
        return Path(override) if Path(override).exists() else None
    for node_modules in node_modules_dirs():
        local = node_modules / ".bin" / "solcjs"
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

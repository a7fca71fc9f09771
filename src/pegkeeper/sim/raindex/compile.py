"""Compiles the test contracts with solcjs (the `solc` package of the npm registry) into
`artifacts.json`: `python -m pegkeeper.sim.raindex.compile [--solcjs PATH] [--check]`.
With --check nothing is written and the exit status says whether the committed file is current.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pegkeeper.sim.raindex.artifacts import ARTIFACTS_PATH, CONTRACT_NAMES, CONTRACTS_DIR

DEFAULT_SOLCJS = Path("node_modules/.bin/solcjs")
COMPILE_TIMEOUT_S = 300


class CompileError(Exception):
    """solcjs did not run, or reported errors in the sources."""


def standard_input(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """solc's standard JSON input for every .sol file, keyed by file name (so the output does
    not depend on where the checkout lives)."""
    sources = {
        path.name: {"content": path.read_text(encoding="utf-8")}
        for path in sorted(contracts_dir.glob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "cancun",
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }


def solc_version(solcjs: Path) -> str:
    return _run([str(solcjs), "--version"], stdin="").strip()


def compile_contracts(solcjs: Path, contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """The document written to `artifacts.json`: the compiler's version and, per contract of
    CONTRACT_NAMES, its ABI and creation bytecode."""
    raw = _run([str(solcjs), "--standard-json"], stdin=json.dumps(standard_input(contracts_dir)))
    # solcjs may print notes (">>> Cannot retry compilation with SMT ...") before the JSON.
    output = json.loads(raw[raw.find("{") :])
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        details = "\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors)
        raise CompileError(f"solc reported errors:\n{details}")
    found: dict[str, Any] = {}
    for contracts in output.get("contracts", {}).values():
        for name, entry in contracts.items():
            if name in CONTRACT_NAMES:
                found[name] = {
                    "abi": entry["abi"],
                    "bytecode": "0x" + entry["evm"]["bytecode"]["object"],
                }
    missing = [name for name in CONTRACT_NAMES if name not in found]
    if missing:
        raise CompileError(f"solc's output lacks the contracts {missing}")
    return {
        "compiler": solc_version(solcjs),
        "contracts": {name: found[name] for name in CONTRACT_NAMES},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def _run(command: list[str], stdin: str) -> str:
    # stdout goes to a file, not a pipe: node exits before it has flushed more than 64 KiB
    # written to a pipe, which cut the standard JSON output short.
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stdout:
        try:
            done = subprocess.run(
                command,
                input=stdin,
                stdout=stdout,
                stderr=subprocess.PIPE,
                text=True,
                timeout=COMPILE_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CompileError(f"could not run {command[0]}: {exc}") from exc
        if done.returncode != 0:
            raise CompileError(f"{command[0]} exited with {done.returncode}: {done.stderr.strip()}")
        stdout.seek(0)
        return stdout.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--solcjs", type=Path, default=DEFAULT_SOLCJS)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    text = render(compile_contracts(args.solcjs))
    if args.check:
        current = ARTIFACTS_PATH.read_text(encoding="utf-8") if ARTIFACTS_PATH.exists() else ""
        if current != text:
            print(f"{ARTIFACTS_PATH} is not current: run `make contracts`", file=sys.stderr)
            return 1
        print(f"{ARTIFACTS_PATH} is current")
        return 0
    ARTIFACTS_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {ARTIFACTS_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

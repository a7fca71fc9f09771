"""The compiled test contracts, read from the committed `artifacts.json`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
CONTRACTS_DIR = PACKAGE_DIR / "contracts"
ARTIFACTS_PATH = PACKAGE_DIR / "artifacts.json"
CONTRACT_NAMES = (
    "RaindexStandIn",
    "TestToken",
    "UnlabelledToken",
    "TestWrapper",
    "TestMessageTransmitter",
    "TestTokenMessenger",
)


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code

    def event_abi(self, name: str) -> dict[str, Any]:
        for entry in self.abi:
            if entry.get("type") == "event" and entry.get("name") == name:
                return entry
        raise KeyError(f"{self.name} declares no event {name!r}")


def artifacts_from_document(document: dict[str, Any]) -> dict[str, Artifact]:
    """The artifacts of a document shaped as `artifacts.json` (see compile.py)."""
    contracts: dict[str, Any] = document["contracts"]
    return {
        name: Artifact(name=name, abi=entry["abi"], bytecode=entry["bytecode"])
        for name, entry in contracts.items()
    }


def load_artifacts(path: Path = ARTIFACTS_PATH) -> dict[str, Artifact]:
    """The committed artifacts by contract name."""
    return artifacts_from_document(json.loads(path.read_text(encoding="utf-8")))

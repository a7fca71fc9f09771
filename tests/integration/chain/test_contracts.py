"""The test contracts: the committed artifact is what the sources compile to, and each event's
topic0, computed from the compiled ABI, is the one in the spec's tables and the adapter's."""

from __future__ import annotations

from pathlib import Path

from eth_utils.abi import event_abi_to_log_topic

from pegkeeper.adapters.chain.raindex_abi import EVENT_KINDS
from pegkeeper.sim.raindex.artifacts import ARTIFACTS_PATH, Artifact
from pegkeeper.sim.raindex.compile import render
from tests.anvil_chain import compiled_document

# specs/equities.md, "Raindex events"
SPEC_TOPIC0 = {
    "ClearV2": "0x692ee69af2843c70772be93470669f3c73e583316a047b6bfefdae5629de37ce",
    "AfterClear": "0x3f20e55919cca701abb2a40ab72542b25ea7eed63a50f979dd2cd3231e5f488d",
    "TakeOrderV2": "0x10de99b9032184587540c04e1850dff94a7683ae1fcc9eb06098621c739c0275",
    "ClearV3": "0x6fa7f4c28634b0a9d6831401c45ae468195fb63aed07308935c35374ff5d9e39",
    "AfterClearV2": "0xd9fa84dd790c969daa5c33d8050dc06b4a9b59d5b42e2be5f5e8ae20447f618d",
    "TakeOrderV3": "0x194f1feb3b4d7076a2c272e774e792e0c48bb8c7aa1a9a3671c1cd6da9e6b4c1",
}


def test_the_committed_artifact_is_what_the_sources_compile_to(solcjs: Path) -> None:
    assert ARTIFACTS_PATH.read_text(encoding="utf-8") == render(compiled_document(solcjs)), (
        "src/pegkeeper/sim/raindex/artifacts.json is stale: run `make contracts`"
    )


def test_each_event_topic0_from_the_compiled_abi_is_the_specs(
    contracts: dict[str, Artifact],
) -> None:
    orderbook = contracts["RaindexStandIn"]
    compiled = {
        name: "0x" + event_abi_to_log_topic(orderbook.event_abi(name)).hex() for name in SPEC_TOPIC0
    }

    assert compiled == SPEC_TOPIC0
    assert {kind.name: kind.topic0 for kind in EVENT_KINDS} == SPEC_TOPIC0

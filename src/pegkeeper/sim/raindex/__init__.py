"""Solidity test contracts for the tokenized-equity hedger: a Raindex orderbook stand-in that
emits the V4 and V5/V6 events, ERC-20 tokens and an ERC-4626-like wrapper. Their sources are in
`contracts/`, their compiled ABI and bytecode in `artifacts.json` (`make contracts` rebuilds it).
"""

from pegkeeper.sim.raindex.artifacts import ARTIFACTS_PATH, CONTRACT_NAMES, Artifact, load_artifacts

__all__ = ["ARTIFACTS_PATH", "CONTRACT_NAMES", "Artifact", "load_artifacts"]

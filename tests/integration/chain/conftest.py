"""A fresh anvil node per test with the test contracts deployed, and the chain adapter reading
it (directly, or through a misbehaving JSON-RPC proxy)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.sim.raindex.artifacts import Artifact
from tests.anvil_chain import (
    AnvilNode,
    anvil_path,
    compiled_contracts,
    require,
    running_anvil,
    solcjs_path,
)
from tests.chain_rpc_proxy import RpcProxy


@pytest.fixture(scope="session")
def anvil_binary() -> Path:
    return require(anvil_path(), "anvil")


@pytest.fixture(scope="session")
def solcjs() -> Path:
    return require(solcjs_path(), "solcjs")


@pytest.fixture(scope="session")
def contracts(solcjs: Path) -> dict[str, Artifact]:
    return compiled_contracts(solcjs)


@pytest.fixture
def anvil(anvil_binary: Path) -> Iterator[AnvilNode]:
    with running_anvil(anvil_binary) as node:
        yield node


@pytest.fixture
async def world(anvil: AnvilNode, contracts: dict[str, Artifact]) -> AsyncIterator[RaindexWorld]:
    deployed = RaindexWorld(anvil.url, contracts)
    await deployed.start()
    try:
        yield deployed
    finally:
        await deployed.close()


@pytest.fixture
async def chain(world: RaindexWorld) -> AsyncIterator[RaindexChain]:
    source = RaindexChain(world.url, world.orderbook.address, cutoff=0, timeout_s=5.0)
    try:
        yield source
    finally:
        await source.aclose()


@pytest.fixture
async def proxy(anvil: AnvilNode) -> AsyncIterator[RpcProxy]:
    server = RpcProxy(anvil.url)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def proxied_chain(world: RaindexWorld, proxy: RpcProxy) -> AsyncIterator[RaindexChain]:
    source = RaindexChain(proxy.url, world.orderbook.address, cutoff=0, timeout_s=1.0)
    try:
        yield source
    finally:
        await source.aclose()

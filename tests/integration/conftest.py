"""Databases for integration tests: a SQLite file, and a fresh PostgreSQL database per test;
and the local Ethereum node: a fresh anvil per test with the test contracts deployed, and the
chain adapter reading it (directly, or through a misbehaving JSON-RPC proxy).

PostgreSQL is expected on 127.0.0.1:5432 (user postgres, trust auth, database `test`). When it
cannot be reached the PostgreSQL cases are skipped, or fail when CI is "true"; so are the chain
cases when anvil or solcjs is not installed (`make tools`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.store.database import SqlStore, open_store
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

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_ADMIN_DSN = f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"


async def _admin_connection() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        message = (
            f"PostgreSQL is not reachable at {POSTGRES_HOST}:{POSTGRES_PORT} "
            f"({type(exc).__name__}: {exc})"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(message)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new empty database, dropped afterwards; yields its SQLAlchemy asyncpg URL."""
    name = f"pegkeeper_t_{secrets.token_hex(6)}"
    admin = await _admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        admin = await _admin_connection()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def sqlite_url(directory: Path) -> str:
    # A directory that does not exist yet: opening the store creates it.
    return f"sqlite+aiosqlite:///{directory / 'store' / 'pegkeeper.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    async with postgres_database() as url:
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    opened = await open_store(database_url)
    try:
        yield opened
    finally:
        await opened.close()


# the local Ethereum node


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

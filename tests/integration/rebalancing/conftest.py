"""Fixtures of the rebalancing tests that kill the rebalancer at every point of a move: a
SQLite store at the newest schema, migrated once per module and copied for each case."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from pegkeeper.adapters.store.database import SqlStore, open_store
from tests.integration.conftest import sqlite_url


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store's file at the newest schema, copied for each case."""
    directory = tmp_path_factory.mktemp("template")
    asyncio.run(_migrate(sqlite_url(directory)))
    return directory / "store" / "pegkeeper.db"


async def _migrate(url: str) -> None:
    await (await open_store(url)).close()


@pytest_asyncio.fixture(loop_scope="module")
async def sqlite_store(migrated_sqlite: Path, tmp_path: Path) -> AsyncIterator[SqlStore]:
    shutil.copy(migrated_sqlite, tmp_path / "pegkeeper.db")
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'pegkeeper.db'}", migrate=False)
    try:
        yield store
    finally:
        await store.close()

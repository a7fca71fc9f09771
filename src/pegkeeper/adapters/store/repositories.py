"""What the SQL repositories share: short transactions on one engine.

SQLite allows one writer at a time. Writes there take the database's write lock up front
(`BEGIN IMMEDIATE`, so two processes queue on the busy timeout instead of failing when a read
transaction tries to upgrade) and, within one process, also queue on an asyncio lock so that
tasks wait in the event loop rather than in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Execution option read by the SQLite `begin` hook in database.py.
IMMEDIATE_OPTION = "pegkeeper_begin_immediate"

NowMs = Callable[[], int]


class Transactions:
    def __init__(
        self, engine: AsyncEngine, *, serialize_writes: bool, serialize_reads: bool
    ) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(**{IMMEDIATE_OPTION: True})
        self._write_lock = asyncio.Lock() if serialize_writes else None
        # One shared connection (an in-memory SQLite database) cannot hold two transactions.
        self._read_lock = self._write_lock if serialize_reads else None

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction committed when the block ends, rolled back if it raises."""
        async with _held(self._write_lock), self._write_engine.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with _held(self._read_lock), self.engine.connect() as conn:
            yield conn


def _held(lock: asyncio.Lock | None) -> contextlib.AbstractAsyncContextManager[object]:
    return lock if lock is not None else contextlib.nullcontext()

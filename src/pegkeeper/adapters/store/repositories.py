"""What the SQL repositories share: short transactions on one engine.

A unit of work (`unit`) makes every repository call of the task inside it join one write
transaction, committed when the block ends: the services decide what is written together.

SQLite allows one writer at a time. Writes there take the database's write lock up front
(`BEGIN IMMEDIATE`, so two processes queue on the busy timeout instead of failing when a read
transaction tries to upgrade) and, within one process, also queue on an asyncio lock so that
tasks wait in the event loop rather than in SQLite's busy handler.

A task that acts for a singleton (domain.leases.act_under) has every write transaction fenced:
its first statement checks the lease (fencing.py), so a holder that lost it writes nothing.

A write that is one statement can go `standalone`: on PostgreSQL the statement is then a
transaction of its own (one round trip instead of three: BEGIN, the statement, COMMIT).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pegkeeper.adapters.store.fencing import fence
from pegkeeper.domain.leases import acting_lease

# Execution option read by the SQLite `begin` hook in database.py.
IMMEDIATE_OPTION = "pegkeeper_begin_immediate"

NowMs = Callable[[], int]

_UNIT: ContextVar[tuple[asyncio.Task[object] | None, AsyncConnection] | None] = ContextVar(
    "pegkeeper_unit_of_work", default=None
)


class Transactions:
    def __init__(
        self, engine: AsyncEngine, *, serialize_writes: bool, serialize_reads: bool
    ) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(**{IMMEDIATE_OPTION: True})
        self._write_lock = asyncio.Lock() if serialize_writes else None
        self._autocommit_engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else None
        )
        # One shared connection (an in-memory SQLite database) cannot hold two transactions.
        self._read_lock = self._write_lock if serialize_reads else None

    @contextlib.asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """One transaction for every write and read of this task inside the block; committed
        when it ends, rolled back whole if it raises. Units do not nest."""
        if self._joined() is not None:
            raise RuntimeError("a unit of work is already open in this task")
        async with self._begin_write() as conn:
            token = _UNIT.set((asyncio.current_task(), conn))
            try:
                yield
            finally:
                _UNIT.reset(token)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction committed when the block ends, rolled back if it raises (inside a
        unit of work: the unit's)."""
        joined = self._joined()
        if joined is not None:
            yield joined
            return
        async with self._begin_write() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def standalone(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a write that one statement holds whole: committed by the time the
        block ends, all or nothing. On PostgreSQL, outside a unit of work and a lease, the
        statement commits itself before it returns (autocommit), so a second statement on
        this connection would be a second transaction. Elsewhere it is `write()`."""
        if (
            self._autocommit_engine is None
            or self._joined() is not None
            or acting_lease() is not None
        ):
            async with self.write() as conn:
                yield conn
            return
        async with self._autocommit_engine.connect() as conn:
            yield conn

    @property
    def dialect(self) -> str:
        """ "postgresql" or "sqlite"."""
        return self.engine.dialect.name

    @contextlib.asynccontextmanager
    async def _begin_write(self) -> AsyncIterator[AsyncConnection]:
        lease = acting_lease()  # a lease already lost locally raises before the database
        async with _held(self._write_lock), self._write_engine.begin() as conn:
            if lease is not None:
                await fence(conn, lease)
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        joined = self._joined()
        if joined is not None:
            yield joined
            return
        async with _held(self._read_lock), self.engine.connect() as conn:
            yield conn

    def in_unit(self) -> bool:
        """Whether this task has a unit of work open (its writes join that transaction)."""
        return self._joined() is not None

    @staticmethod
    def _joined() -> AsyncConnection | None:
        """The open unit of work's connection, when this very task opened it (a task started
        inside a unit inherits the variable, not the transaction)."""
        unit = _UNIT.get()
        if unit is None or unit[0] is not asyncio.current_task():
            return None
        return unit[1]


def _held(lock: asyncio.Lock | None) -> contextlib.AbstractAsyncContextManager[object]:
    return lock if lock is not None else contextlib.nullcontext()

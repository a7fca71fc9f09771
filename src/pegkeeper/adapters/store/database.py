"""Opening the store: the async engine, the schema migrations, the repositories.

`open_store("sqlite+aiosqlite:///data/pegkeeper.db")` is the embedded default;
`open_store("postgresql+asyncpg://user@host/db")` runs the same code on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from pegkeeper.adapters.store.allocation_repo import SqlAllocationRepository
from pegkeeper.adapters.store.audit_repo import SqlAuditReader
from pegkeeper.adapters.store.collateral_repo import SqlCollateralRepository
from pegkeeper.adapters.store.equity_repo import SqlEquityRepository
from pegkeeper.adapters.store.galoy_repo import SqlGaloyRepository
from pegkeeper.adapters.store.hedge_repo import SqlHedgeRepository
from pegkeeper.adapters.store.lease_repo import SqlLeaseRepository
from pegkeeper.adapters.store.ledger_state_repo import SqlLedgerStateRepository
from pegkeeper.adapters.store.liability_repo import SqlLiabilityRepository
from pegkeeper.adapters.store.operator_repo import SqlOperatorActionRepository
from pegkeeper.adapters.store.outbox_repo import SqlOutboxRepository
from pegkeeper.adapters.store.peg_repo import SqlPegRepository
from pegkeeper.adapters.store.process_repo import SqlProcessRepository
from pegkeeper.adapters.store.quote_repo import SqlQuoteRepository
from pegkeeper.adapters.store.rebalance_repo import SqlRebalanceRepository
from pegkeeper.adapters.store.repositories import IMMEDIATE_OPTION, NowMs, Transactions
from pegkeeper.adapters.store.roll_repo import SqlRollRepository
from pegkeeper.adapters.store.token_repo import SqlTokenRepository
from pegkeeper.ports import (
    AuditReader,
    Clock,
    CollateralRepository,
    HedgeRepository,
    LiabilityRepository,
    OperatorActionRepository,
    PegRepository,
    QuoteRepository,
    RollRepository,
    TokenRepository,
)
from pegkeeper.ports.allocation import AllocationRepository
from pegkeeper.ports.equities import EquityRepository
from pegkeeper.ports.leases import LeaseRepository
from pegkeeper.ports.outbox import OutboxRepository
from pegkeeper.ports.processes import ProcessRepository
from pegkeeper.ports.rebalancing import RebalanceRepository

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any constant does, as long as every process migrating the database uses the same one.
_PG_MIGRATION_LOCK = text("SELECT pg_advisory_xact_lock(7365267531)")
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout = 10000",  # first, so that the WAL switch below waits for locks too
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
)


class SqlStore:
    def __init__(
        self,
        tx: Transactions,
        liability: SqlLiabilityRepository,
        hedge: SqlHedgeRepository,
        pegs: SqlPegRepository,
        quotes: SqlQuoteRepository,
        operator_actions: SqlOperatorActionRepository,
        audit: SqlAuditReader,
        funding: SqlCollateralRepository,
        rolls: SqlRollRepository,
        *,
        galoy: SqlGaloyRepository,
        ledger_state: SqlLedgerStateRepository,
        equities: SqlEquityRepository,
        broker_tokens: SqlTokenRepository,
        leases: SqlLeaseRepository,
        outbox: SqlOutboxRepository,
        processes: SqlProcessRepository,
        rebalancing: SqlRebalanceRepository,
        allocation: SqlAllocationRepository,
    ) -> None:
        self.engine = tx.engine
        self._tx = tx
        self.liability: LiabilityRepository = liability
        self.hedge: HedgeRepository = hedge
        self.pegs: PegRepository = pegs
        self.quotes: QuoteRepository = quotes
        # polled ledger sources (specs/galoy.md): their bootstrap hands these to them
        self.galoy = galoy
        self.ledger_state = ledger_state
        self.operator_actions: OperatorActionRepository = operator_actions
        self.audit: AuditReader = audit
        self.funding: CollateralRepository = funding
        self.rolls: RollRepository = rolls
        self.equities: EquityRepository = equities
        # sealed broker logins: adapters.store.token_store encrypts and decrypts them
        self.broker_tokens: TokenRepository = broker_tokens
        # the singleton services' leases; money writes fence on them (lease_repo.fence)
        self.leases: LeaseRepository = leases
        # money events for the bus, written in their unit of work (services/outbox.py)
        self.outbox: OutboxRepository = outbox
        # the cluster's processes and their last beats (the dashboard's health panel)
        self.processes: ProcessRepository = processes
        # inventory rebalancing: proposals, moves and their step intents, signer nonces
        self.rebalancing: RebalanceRepository = rebalancing
        # the carry allocation: the legs' weights in force, and its decisions
        self.allocation: AllocationRepository = allocation

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return self._tx.unit()

    async def close(self) -> None:
        await self.engine.dispose()


async def open_store(
    database_url: str, *, migrate: bool = True, clock: Clock | None = None
) -> SqlStore:
    """Connect, bring the schema to the newest revision (unless `migrate` is False) and
    return the store. `clock` stamps rows whose callers pass no time (fills)."""
    engine = create_engine(database_url)
    try:
        if migrate:
            await run_migrations(engine)
    except BaseException:
        await engine.dispose()
        raise
    is_sqlite = engine.dialect.name == "sqlite"
    tx = Transactions(
        engine,
        serialize_writes=is_sqlite,
        serialize_reads=is_sqlite and isinstance(engine.pool, StaticPool),
    )
    now_ms: NowMs = clock.now_ms if clock is not None else _wall_clock_ms
    liability = SqlLiabilityRepository(tx)
    operator_actions = SqlOperatorActionRepository(tx)
    return SqlStore(
        tx,
        liability,
        SqlHedgeRepository(tx, now_ms),
        SqlPegRepository(tx),
        SqlQuoteRepository(tx, liability),
        operator_actions,
        SqlAuditReader(tx, operator_actions),
        SqlCollateralRepository(tx),
        SqlRollRepository(tx),
        galoy=SqlGaloyRepository(tx),
        ledger_state=SqlLedgerStateRepository(tx),
        equities=SqlEquityRepository(tx, now_ms),
        broker_tokens=SqlTokenRepository(tx),
        leases=SqlLeaseRepository(tx),
        outbox=SqlOutboxRepository(tx),
        processes=SqlProcessRepository(tx),
        rebalancing=SqlRebalanceRepository(tx),
        allocation=SqlAllocationRepository(tx),
    )


def normalize_url(database_url: str) -> URL:
    """The URL with pegkeeper's async driver for its backend (`sqlite://` -> aiosqlite)."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(
            f"unsupported database {url.render_as_string(hide_password=True)!r}: "
            "use sqlite+aiosqlite:///path/file.db or postgresql+asyncpg://user@host/db"
        )
    return url.set(drivername=_DRIVERS[backend])


def create_engine(database_url: str) -> AsyncEngine:
    url = normalize_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url)
    database = url.database or ""
    in_memory = database in ("", ":memory:")
    if not in_memory and not url.query.get("uri"):
        path = Path(database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        _enable_wal(path)
    kwargs: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {}
    engine = create_async_engine(url, **kwargs)
    _install_sqlite_hooks(engine)
    return engine


async def run_migrations(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade to `revision` in one transaction; a schema already there is left as it is."""
    async with migration_transaction(engine) as conn:
        await conn.run_sync(_upgrade, revision)


@contextlib.asynccontextmanager
async def migration_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that first takes the database's migration lock.

    Processes (and tasks: Alembic keeps its context in module globals) that migrate the same
    database then take turns, and each finds the schema as the previous one left it. The
    lock is SQLite's write lock or a PostgreSQL advisory lock, held until the commit.
    """
    async with engine.execution_options(**{IMMEDIATE_OPTION: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(_PG_MIGRATION_LOCK)
        yield conn


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for pegkeeper's migrations, on `connection` if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling defers BEGIN to the first write, which makes a
    # read-then-write transaction fail with SQLITE_BUSY under WAL instead of waiting. The
    # driver is put in autocommit mode and SQLAlchemy emits BEGIN itself.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _enable_wal(path: Path) -> None:
    """Switch the file to WAL once, before any concurrent use: the switch needs an exclusive
    lock, and racing it against other connections' transactions can deadlock in SQLite, which
    then answers "database is locked" without waiting. The mode persists in the file."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as connection:
        connection.execute("PRAGMA journal_mode = WAL")


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000

"""The postgres liability source: a wallet's own ledger in PostgreSQL, read by a query."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.ledger.postgres import LiabilityQueryConfigError, SqlLiabilityQuery
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.ledger_sync import LedgerUnavailable
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.ledger.liability_snapshot import (
    LiabilitySnapshotPoller,
    SnapshotPollerSettings,
)
from tests.integration.conftest import postgres_database, sqlite_url

QUERY = "SELECT sum(balance_cents) FROM usd_wallets"


@contextlib.asynccontextmanager
async def wallet_database() -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """A wallet's database with two USD wallets: 1 500 + 2 250 = 3 750 cents."""
    async with postgres_database() as url:
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "CREATE TABLE usd_wallets (id text PRIMARY KEY, balance_cents bigint NOT NULL);"
                "INSERT INTO usd_wallets VALUES ('alice', 1500), ('bob', 2250);"
            )
            yield dsn, conn
        finally:
            await conn.close()


def poller(
    store: SqlStore, query: SqlLiabilityQuery, max_abs_delta_cents: int = 10**9
) -> LiabilitySnapshotPoller:
    clock = ManualClock(1_000)
    liability = LiabilityService(
        store.liability, MemoryBus(), clock, max_abs_delta_cents=max_abs_delta_cents
    )
    return LiabilitySnapshotPoller(
        query, liability, store.ledger_state, clock, SnapshotPollerSettings()
    )


async def test_each_change_of_the_query_s_result_is_one_event(store: SqlStore) -> None:
    async with wallet_database() as (dsn, wallet):
        query = SqlLiabilityQuery(dsn, QUERY)
        try:
            source = poller(store, query)
            first = await source.poll_once()
            assert first is not None and first.event_id == "postgres-0-3750"
            assert (first.delta_cents, first.balance_after_cents) == (3_750, 3_750)
            assert first.source == "postgres"
            assert await source.poll_once() is None  # unchanged: no event
            await wallet.execute("UPDATE usd_wallets SET balance_cents = 250 WHERE id = 'bob'")
            second = await source.poll_once()
            # 1 500 + 250 = 1 750: the change is 1 750 - 3 750 = -2 000
            assert second is not None and second.event_id == "postgres-1-1750"
            assert (second.delta_cents, second.balance_after_cents) == (-2_000, 1_750)
            state = await store.ledger_state.get("postgres")
            assert state is not None and state.last_poll_ms == 1_000 and state.last_error == ""
        finally:
            await query.close()


BAD_ANSWERS = [
    ("SELECT balance_cents FROM usd_wallets", "returned 2 rows; expected one row"),
    ("SELECT 1, 2", "returned 2 columns"),
    ("SELECT 'many'", "returned 'many'"),
    ("SELECT 12.5::numeric", "returned 12.5, not a whole number of cents"),
    ("SELECT -3", "returned -3 cents; a liability cannot be below 0"),
    ("SELECT sum(balance_cents) FROM no_such_table", "the liability query on postgresql"),
    ("DELETE FROM usd_wallets RETURNING 1", "read-only transaction"),
]


async def test_a_bad_answer_is_named_and_changes_nothing(tmp_path: Path) -> None:
    store = await open_store(sqlite_url(tmp_path))
    try:
        async with wallet_database() as (dsn, wallet):
            for sql, message in BAD_ANSWERS:
                query = SqlLiabilityQuery(dsn, sql)
                try:
                    with pytest.raises(LedgerUnavailable, match=message):
                        await poller(store, query).poll_once()
                finally:
                    await query.close()
            assert await wallet.fetchval("SELECT count(*) FROM usd_wallets") == 2
        assert await store.liability.balance_cents() == 0
    finally:
        await store.close()


async def test_a_change_beyond_the_largest_accepted_is_refused(store: SqlStore) -> None:
    async with wallet_database() as (dsn, _):
        query = SqlLiabilityQuery(dsn, QUERY)
        try:
            with pytest.raises(InvalidInput, match="beyond the configured maximum"):
                await poller(store, query, max_abs_delta_cents=1_000).poll_once()
        finally:
            await query.close()
        assert await store.liability.balance_cents() == 0


async def test_the_password_never_shows_in_an_error() -> None:
    query = SqlLiabilityQuery("postgresql://postgres:s3cr3t-pw@127.0.0.1:1/nowhere", "SELECT 1")
    try:
        with pytest.raises(LedgerUnavailable) as failed:
            await query.liability_cents()
    finally:
        await query.close()
    assert "s3cr3t-pw" not in str(failed.value)
    assert "postgresql+asyncpg://postgres:***@127.0.0.1:1/nowhere" in str(failed.value)


@pytest.mark.parametrize(
    ("dsn", "query", "message"),
    [
        ("sqlite:///x.db", "SELECT 1", "must be a PostgreSQL URL"),
        ("not a url", "SELECT 1", "is not a database URL"),
        ("postgresql://u@h/db", "  ", "query is empty"),
    ],
)
def test_a_dsn_or_query_that_cannot_be_used_is_named(dsn: str, query: str, message: str) -> None:
    with pytest.raises(LiabilityQueryConfigError, match=message):
        SqlLiabilityQuery(dsn, query)

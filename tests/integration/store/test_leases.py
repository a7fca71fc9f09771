"""Leases with fencing on SQLite and PostgreSQL: one holder at a time, renewed by its holder,
taken over after it expires with a higher epoch, and a write under a lost lease refused inside
its transaction. Time is the database's own clock."""

from __future__ import annotations

import asyncio

import pytest

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.store.fencing import fence
from pegkeeper.adapters.store.lease_tables import LEASE_TABLES
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.leases import Lease, LeaseLost
from tests.integration.store.schema_support import downgrade_and_upgrade, schema_differences

TTL_MS = 1_000


async def test_one_holder_renews_and_another_waits(store: SqlStore) -> None:
    leases = store.leases
    first = await leases.acquire("hedger:BTC-USD-SWAP", "host-a:1", 60_000)
    assert first is not None and (first.holder, first.epoch) == ("host-a:1", 1)
    assert await leases.acquire("hedger:BTC-USD-SWAP", "host-b:2", 60_000) is None
    renewed = await leases.acquire("hedger:BTC-USD-SWAP", "host-a:1", 60_000)
    assert renewed is not None and renewed.epoch == 1  # a renewal keeps the epoch
    assert renewed.expires_at_ms >= first.expires_at_ms
    assert await leases.current("hedger:BTC-USD-SWAP") == renewed
    # another singleton's lease is its own
    other = await leases.acquire("funding", "host-b:2", 60_000)
    assert other is not None and other.epoch == 1


async def test_an_expired_lease_is_taken_over_with_a_higher_epoch(store: SqlStore) -> None:
    leases = store.leases
    old = await leases.acquire("equity-hedger", "host-a:1", TTL_MS)
    assert old is not None
    await asyncio.sleep(TTL_MS / 1000 + 0.05)
    new = await leases.acquire("equity-hedger", "host-b:2", TTL_MS)
    assert new is not None and (new.holder, new.epoch) == ("host-b:2", 2)
    # the old holder, awake again, cannot renew: the lease is the standby's
    assert await leases.acquire("equity-hedger", "host-a:1", TTL_MS) is None


async def test_a_write_under_a_lost_lease_is_refused_in_its_transaction(store: SqlStore) -> None:
    leases = store.leases
    old = await leases.acquire("funding", "host-a:1", TTL_MS)
    assert old is not None
    async with store.engine.begin() as conn:
        await fence(conn, old)  # held: the write may go on
    await asyncio.sleep(TTL_MS / 1000 + 0.05)
    with pytest.raises(LeaseLost, match="'funding' is no longer held by host-a:1 at epoch 1"):
        async with store.engine.begin() as conn:
            await fence(conn, old)  # expired, even before anyone took it over
    new = await leases.acquire("funding", "host-b:2", 60_000)
    assert new is not None
    stale = Lease(old.name, old.holder, old.epoch, new.expires_at_ms)
    with pytest.raises(LeaseLost):
        async with store.engine.begin() as conn:
            await fence(conn, stale)


async def test_a_released_lease_is_taken_at_once(store: SqlStore) -> None:
    leases = store.leases
    held = await leases.acquire("ledger", "host-a:1", 60_000)
    assert held is not None and await leases.release(held)
    assert not await leases.release(held)  # released already
    taken = await leases.acquire("ledger", "host-b:2", 60_000)
    assert taken is not None and taken.epoch == 2


async def test_two_contenders_at_once_get_one_holder(store: SqlStore) -> None:
    got = await asyncio.gather(
        *(store.leases.acquire("rebalancer", f"host-{n}:1", 60_000) for n in range(8))
    )
    assert len([lease for lease in got if lease is not None]) == 1


async def test_a_lease_needs_a_name_a_holder_and_a_second(store: SqlStore) -> None:
    with pytest.raises(InvalidInput, match="a lease lasts at least 1000 ms, not 10"):
        await store.leases.acquire("funding", "host-a:1", 10)
    with pytest.raises(InvalidInput, match="a lease needs a name and a holder"):
        await store.leases.acquire("", "host-a:1", 60_000)
    assert await store.leases.current("funding") is None


async def test_the_migration_creates_the_lease_table_as_declared_and_downgrades(
    store: SqlStore,
) -> None:
    async with store.engine.begin() as conn:
        assert await conn.run_sync(schema_differences, LEASE_TABLES) == []
        without, again = await conn.run_sync(downgrade_and_upgrade, "0013")
    assert "leases" not in without and "leases" in again

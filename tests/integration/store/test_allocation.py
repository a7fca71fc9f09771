"""The carry allocation's store on SQLite and PostgreSQL: the migration, the weights replaced
with their decision at the next version in one transaction, a decision made on stale weights
refused with nothing written, the database refusing two changes to one version, and a write
under a lease taken over refused."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from pegkeeper.adapters.store.allocation_tables import ALLOCATION_TABLES, carry_decisions
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.domain.carry_records import (
    AllocationWeights,
    CarryDecisionRecord,
    CarryLegInputs,
    opening_weights,
)
from pegkeeper.domain.errors import ConflictError
from pegkeeper.domain.leases import LeaseLost
from pegkeeper.services.hedging.carry_weights import SharedWeights
from tests.integration.store.fencing_support import HeldLease, as_holder
from tests.integration.store.schema_support import downgrade_and_upgrade, schema_differences

PERP, QUARTERLY = "BTC-USD-SWAP", "BTC-USD-QUARTERLY"
LEGS = (PERP, QUARTERLY)


def leg_inputs(leg: str, before: str, after: str) -> CarryLegInputs:
    if leg == PERP:
        return CarryLegInputs(
            leg, PERP, D(before), D(after), D("-3.285"), D("-3.285"), D("7"),
            next_rate=D("-0.003"), mean_rate=D("-0.003"), settlements=9,
        )  # fmt: skip
    return CarryLegInputs(
        leg, "BTC-USD-270326", D(before), D(after), D(0), D("-0.0091"), D("7"),
        future_usd=D("80000.5"), spot_usd=D("80000.5"), expiry_ms=1_805_000_000_000,
    )  # fmt: skip


def decision(
    n: int, version: int, perp: str, quarterly: str, before: tuple[str, str] | None = None
) -> CarryDecisionRecord:
    was = before or (perp, quarterly)
    changed = was != (perp, quarterly)
    return CarryDecisionRecord(
        decision_id=f"cd{n}",
        created_at_ms=1_000 * n,
        rule="moving to a better net carry" if changed else "holding: the best holds everything",
        version=version,
        changed=changed,
        legs=(leg_inputs(PERP, was[0], perp), leg_inputs(QUARTERLY, was[1], quarterly)),
        move_from="primary:BTC-USD-SWAP" if changed else None,
        move_to="primary:BTC-USD-QUARTERLY" if changed else None,
        move_share=D("0.02") if changed else None,
        gain_bps=D("270.0"),
        cost_bps=D("19"),
    )


async def test_the_migration_creates_the_tables_as_declared_and_downgrades(
    store: SqlStore,
) -> None:
    async with store.engine.begin() as conn:
        assert await conn.run_sync(schema_differences, ALLOCATION_TABLES) == []
        without, again = await conn.run_sync(downgrade_and_upgrade, "0019")
    names = {t.name for t in ALLOCATION_TABLES}
    assert not names & without and names <= again


async def test_a_change_replaces_the_weights_at_the_next_version_with_its_decision(
    store: SqlStore,
) -> None:
    repo = store.allocation
    assert await repo.weights() == AllocationWeights()
    assert (await repo.weights()).or_opening(LEGS) == opening_weights(2) == (D(1), D(0))
    first = decision(1, 1, "0.98", "0.02", before=("1", "0"))
    await repo.record_decision(first, expected_version=0)
    stored = await repo.weights()
    assert stored.version == 1 and stored.decision_id == "cd1" and stored.updated_at_ms == 1_000
    assert stored.for_legs(LEGS) == (D("0.98"), D("0.02"))
    assert stored.for_legs((QUARTERLY, PERP)) == (D("0.02"), D("0.98"))
    assert stored.for_legs((PERP,)) is None  # another allocation: the carry starts over
    hold = decision(2, 1, "0.98", "0.02")
    await repo.record_decision(hold, expected_version=1)
    assert await repo.weights() == stored  # a decision that holds leaves them as they are
    second = decision(3, 2, "0.96", "0.04", before=("0.98", "0.02"))
    await repo.record_decision(second, expected_version=1)
    assert (await repo.weights()).for_legs(LEGS) == (D("0.96"), D("0.04"))
    assert await repo.recent_decisions(2) == [second, hold]  # every figure read back as written
    assert await repo.last_move() == second


async def test_the_weights_one_process_stores_are_those_another_s_hedgers_read(
    store: SqlStore, database_url: str
) -> None:
    other = await open_store(database_url)  # another process on the same database
    try:
        weights = SharedWeights(other.allocation, LEGS)
        await weights.refresh()
        assert (weights(), weights.version) == ((D(1), D(0)), 0)  # all on the first leg
        await store.allocation.record_decision(decision(1, 1, "0.98", "0.02", ("1", "0")), 0)
        await weights.refresh()
        assert (weights(), weights.version) == ((D("0.98"), D("0.02")), 1)
    finally:
        await other.close()


async def test_a_decision_on_stale_weights_writes_nothing(store: SqlStore) -> None:
    repo = store.allocation
    await repo.record_decision(decision(1, 1, "0.98", "0.02", before=("1", "0")), 0)
    with pytest.raises(ConflictError, match="at version 1, not 0"):
        await repo.record_decision(decision(2, 1, "0.5", "0.5", before=("1", "0")), 0)
    with pytest.raises(ConflictError, match="must be 2"):
        await repo.record_decision(decision(3, 3, "0.5", "0.5", before=("0.98", "0.02")), 1)
    assert [d.decision_id for d in await repo.recent_decisions(10)] == ["cd1"]
    assert (await repo.weights()).for_legs(LEGS) == (D("0.98"), D("0.02"))


async def test_the_database_refuses_two_changes_to_one_version(store: SqlStore) -> None:
    row = {"created_at_ms": 1, "rule": "r", "version": 4, "changed": True, "legs": "[]"}
    async with store.engine.begin() as conn:
        await conn.execute(insert(carry_decisions).values(decision_id="a", **row))
        await conn.execute(
            insert(carry_decisions).values(decision_id="b", **row | {"changed": False})
        )
    with pytest.raises(IntegrityError):
        async with store.engine.begin() as conn:
            await conn.execute(insert(carry_decisions).values(decision_id="c", **row))


async def test_a_holder_whose_lease_was_taken_over_writes_nothing(store: SqlStore) -> None:
    repo = store.allocation
    old = await store.leases.acquire("carry", "host-a:1", 1_000)
    assert old is not None
    await as_holder(
        HeldLease(old), lambda: repo.record_decision(decision(1, 1, "0.98", "0.02", ("1", "0")), 0)
    )
    await asyncio.sleep(1.1)
    assert await store.leases.acquire("carry", "host-b:2", 60_000) is not None
    with pytest.raises(LeaseLost):
        await as_holder(
            HeldLease(old),
            lambda: repo.record_decision(decision(2, 2, "0.96", "0.04", ("0.98", "0.02")), 1),
        )
    assert (await repo.weights()).version == 1
    assert [d.decision_id for d in await repo.recent_decisions(10)] == ["cd1"]

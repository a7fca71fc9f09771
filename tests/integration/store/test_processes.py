"""The process registry on SQLite and PostgreSQL: a beat inserts a process then updates it in
place on the database's clock, `recent` leaves out the processes not heard from since, and the
cluster view marks stale a process that missed three beats. Also every lease row, and the
cluster as GET /api/v1/cluster serves it."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.store.process_tables import PROCESS_TABLES, processes
from pegkeeper.api.http.cluster import cluster_router
from pegkeeper.domain.processes import ProcessInfo
from pegkeeper.services.process_heartbeat import ProcessHeartbeat
from pegkeeper.services.views.cluster import ClusterView
from tests.integration.store.schema_support import downgrade_and_upgrade, schema_differences

DEALER = ProcessInfo(
    "host-a:101:aa", "dealer-a", "host-a", 101, ("hedger", "funding"), "http://host-a:9101"
)
STANDBY = ProcessInfo("host-b:202:bb", "dealer-b", "host-b", 202, ("hedger",), "")
INTERVAL_SECONDS = 5.0  # stale once more than 15 s passed since the last beat


async def age(store: SqlStore, process_id: str, ms: int) -> None:
    """Moves a process's beats `ms` into the past, as if it had stopped beating then."""
    async with store.engine.begin() as conn:
        await conn.execute(
            update(processes)
            .where(processes.c.process_id == process_id)
            .values(
                started_at_ms=processes.c.started_at_ms - ms,
                seen_at_ms=processes.c.seen_at_ms - ms,
            )
        )


async def test_a_beat_inserts_then_updates_in_place(store: SqlStore) -> None:
    registry = store.processes
    before = await registry.now_ms()
    first = await registry.heartbeat(DEALER)
    assert first.info == DEALER
    assert before <= first.started_at_ms == first.seen_at_ms <= await registry.now_ms()
    moved = ProcessInfo(
        DEALER.process_id, "dealer-a2", "host-a", 101, ("hedger",), "http://host-a:9102"
    )
    second = await registry.heartbeat(moved)
    # what it says is replaced, its start is kept, its last beat moves on
    assert second.info == moved and second.started_at_ms == first.started_at_ms
    assert second.seen_at_ms >= first.seen_at_ms
    assert await registry.recent(0) == [second]


async def test_recent_leaves_out_processes_not_heard_from_since(store: SqlStore) -> None:
    registry = store.processes
    await registry.heartbeat(DEALER)
    await registry.heartbeat(STANDBY)
    await age(store, STANDBY.process_id, 60_000)
    now = await registry.now_ms()
    assert [r.info.name for r in await registry.recent(now - 30_000)] == ["dealer-a"]
    assert [r.info.name for r in await registry.recent(now - 120_000)] == ["dealer-a", "dealer-b"]


async def test_a_process_that_missed_three_beats_is_stale(store: SqlStore) -> None:
    await store.processes.heartbeat(DEALER)
    await store.processes.heartbeat(STANDBY)
    await age(store, STANDBY.process_id, 16_000)  # 3 beats of 5 s, and one more second
    await age(store, DEALER.process_id, 5_000)  # one beat late: not stale yet
    status = await ClusterView(store.processes, store.leases, INTERVAL_SECONDS).status()
    assert status.stale_after_ms == 15_000
    assert {row.record.info.name: row.stale for row in status.processes} == {
        "dealer-a": False,
        "dealer-b": True,
    }
    dealer, standby = status.processes
    assert 5_000 <= dealer.seen_ago_ms < 15_000 and standby.seen_ago_ms >= 16_000


async def test_every_lease_row_is_listed_with_its_holder_named(store: SqlStore) -> None:
    assert await store.leases.all() == []
    hedger = await store.leases.acquire("hedger:BTC-USD-SWAP", DEALER.process_id, 60_000)
    funding = await store.leases.acquire("funding", "elsewhere:1:cc", 60_000)
    assert hedger is not None and funding is not None
    assert await store.leases.release(funding)
    released = await store.leases.current("funding")
    assert await store.leases.all() == [released, hedger]  # by name, expired ones included
    await store.processes.heartbeat(DEALER)
    status = await ClusterView(store.processes, store.leases, INTERVAL_SECONDS).status()
    rows = {row.lease.name: row for row in status.leases}
    assert rows["hedger:BTC-USD-SWAP"].holder_name == "dealer-a"
    assert rows["funding"].holder_name is None  # its holder never beat here
    assert rows["funding"].expired and not rows["hedger:BTC-USD-SWAP"].expired
    assert 0 < rows["hedger:BTC-USD-SWAP"].expires_in_ms <= 60_000


async def test_the_heartbeat_service_beats_into_the_registry(store: SqlStore) -> None:
    heartbeat = ProcessHeartbeat(store.processes, DEALER, ManualClock(), interval_seconds=5)
    record = await heartbeat.beat()
    assert record is not None and heartbeat.last == record
    assert await store.processes.recent(0) == [record]


async def test_the_cluster_endpoint_serves_processes_and_leases(store: SqlStore) -> None:
    await store.processes.heartbeat(DEALER)
    await store.processes.heartbeat(STANDBY)
    await age(store, STANDBY.process_id, 20_000)
    lease = await store.leases.acquire("hedger:BTC-USD-SWAP", DEALER.process_id, 30_000)
    assert lease is not None
    app = FastAPI()
    app.include_router(cluster_router(ClusterView(store.processes, store.leases, 5.0)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/v1/cluster")
    assert response.status_code == 200
    body = response.json()
    assert body["stale_after_ms"] == 15_000
    dealer, standby = body["processes"]
    assert {k: dealer[k] for k in ("id", "name", "host", "pid", "services", "ops_url")} == {
        "id": "host-a:101:aa",
        "name": "dealer-a",
        "host": "host-a",
        "pid": 101,
        "services": ["hedger", "funding"],
        "ops_url": "http://host-a:9101",
    }
    assert dealer["stale"] is False and standby["stale"] is True
    assert standby["seen_at_ms"] == body["now_ms"] - standby["seen_ago_ms"]
    assert body["leases"] == [
        {
            "name": "hedger:BTC-USD-SWAP",
            "holder": "host-a:101:aa",
            "holder_name": "dealer-a",
            "epoch": 1,
            "expires_at_ms": lease.expires_at_ms,
            "expires_in_ms": lease.expires_at_ms - body["now_ms"],
            "expired": False,
        }
    ]


async def test_the_migration_creates_the_process_table_as_declared_and_downgrades(
    store: SqlStore,
) -> None:
    async with store.engine.begin() as conn:
        assert await conn.run_sync(schema_differences, PROCESS_TABLES) == []
        without, again = await conn.run_sync(downgrade_and_upgrade, "0014")
    assert "processes" not in without and "processes" in again

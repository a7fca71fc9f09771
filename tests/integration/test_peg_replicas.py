"""Two peg monitors on one store, as two processes run them: both read the prices, one records
them under the lease `peg-monitor`, each row is stored once across a takeover, and a recorder
whose lease was taken over writes nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.bootstrap.cluster import Cluster
from pegkeeper.domain.leases import LeaseLost, LeaseState
from pegkeeper.services.market.peg_monitor import PegMonitor, PegMonitorSettings
from tests.integration.conftest import postgres_database
from tests.integration.store.fencing_support import HeldLease, as_holder
from tests.unit.test_peg_recorder import T0, expected_rows, play, usd
from tests.waiting import until

TTL_SECONDS = 1.0
LEASE = "peg-monitor"


def monitor_on(store: SqlStore, clock: ManualClock) -> PegMonitor:
    return PegMonitor(MemoryBus(), clock, store.pegs, PegMonitorSettings(symbols=("USDC",)))


async def stored(url: str) -> tuple[int, int, list[tuple[int, float]]]:
    """Rows, distinct times, and (time, price) of each, read with a connection of its own."""
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        counts = await connection.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT ts_ms) AS times FROM peg_stats"
        )
        rows = await connection.fetch("SELECT ts_ms, price FROM peg_stats ORDER BY ts_ms")
    finally:
        await connection.close()
    assert counts is not None
    return counts["n"], counts["times"], [(r["ts_ms"], r["price"]) for r in rows]


def row_count(url: str, n: int) -> Callable[[], Awaitable[bool]]:
    async def reached() -> bool:
        count, _, _ = await stored(url)
        return bool(count == n)

    return reached


async def stopped(task: asyncio.Future[object]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.postgres
async def test_two_monitors_on_one_store_record_each_row_once() -> None:
    async with postgres_database() as url:
        store_a = await open_store(url)
        store_b = await open_store(url, migrate=False)
        clock = ManualClock(T0)
        a, b = monitor_on(store_a, clock), monitor_on(store_b, clock)
        cluster_a = Cluster("replica-a:aa", store_a, TTL_SECONDS)
        cluster_b = Cluster("replica-b:bb", store_b, TTL_SECONDS)
        task_a = asyncio.ensure_future(cluster_a.singleton(LEASE, a.recorder.run))
        task_b: asyncio.Future[object] | None = None
        try:
            await until(lambda: a.recorder.recording, "a recording")
            task_b = asyncio.ensure_future(cluster_b.singleton(LEASE, b.recorder.run))
            await until(lambda: cluster_b.leases()[0].holder == "replica-a:aa", "b a standby")
            for monitor in (a, b):
                await monitor.on_bbo(usd(T0))
            await play(clock, [a, b], range(20))  # 5 s of prices, every 250 ms
            # one row a second: k = 0, 4, 8, 12, 16
            await until(row_count(url, 5), "a's five rows")
            assert not b.recorder.recording
            # what /readyz shows of each: a holds the lease, b waits for it
            (held,), (waited,) = cluster_a.leases(), cluster_b.leases()
            assert (held.name, held.state, held.epoch) == (LEASE, LeaseState.HELD, 1)
            assert (waited.name, waited.state, waited.holder) == (
                LEASE,
                LeaseState.WAITING,
                "replica-a:aa",
            )
            await stopped(task_a)  # a stops: its lease is released, b takes over
            await until(lambda: b.recorder.recording, "b recording")
            await play(clock, [a, b], range(20, 40))  # a still reads, b records
            await until(row_count(url, 10), "ten rows")
            count, times, rows = await stored(url)
            assert (count, times) == (10, 10)
            assert rows == expected_rows(range(40))
            lease = await store_a.leases.current(LEASE)
            assert lease is not None and (lease.holder, lease.epoch) == ("replica-b:bb", 2)
            assert a.reading("USDC") == b.reading("USDC")  # both kept reading
        finally:
            await stopped(task_a)
            if task_b is not None:
                await stopped(task_b)
            await store_a.close()
            await store_b.close()


async def test_a_recorder_whose_lease_was_taken_over_writes_nothing(store: SqlStore) -> None:
    old = await store.leases.acquire(LEASE, "replica-a:aa", 1_000)
    assert old is not None and await store.leases.release(old)
    new = await store.leases.acquire(LEASE, "replica-b:bb", 1_000)
    assert new is not None and new.epoch == old.epoch + 1
    clock = ManualClock(T0)
    monitor = monitor_on(store, clock)
    # a woken old holder: it still believes it holds the lease at its epoch
    recording = asyncio.create_task(as_holder(HeldLease(old), monitor.recorder.run))
    await until(lambda: monitor.recorder.recording, "the old holder recording")
    await monitor.on_bbo(usd(T0))
    await play(clock, [monitor], range(8))
    with pytest.raises(ExceptionGroup) as raised:
        await recording
    assert all(isinstance(error, LeaseLost) for error in raised.value.exceptions)
    assert not monitor.recorder.recording
    assert await store.pegs.history("USDC", T0, T0 + 60_000, 100) == []

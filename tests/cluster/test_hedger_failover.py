"""The hedger and its standby as separate processes on PostgreSQL, the OKX simulator as the
venue, users moving the liability all along. The active hedger is killed (kill -9) at points
of the order path and at random moments, again and again; the standby takes over each time.
Afterwards: the position is within the policy's band for the liability, every order the venue
saw is in the store with its decision, no client order id was sent twice, no liability change
was lost. A hedger paused longer than its lease and then woken writes and sends nothing."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pegkeeper.adapters.store.database import SqlStore, open_store
from tests.cluster.checks import check_the_records, settled
from tests.cluster.flow import LiabilityFlow
from tests.cluster.support import LEASE_TTL_SECONDS, Cluster, Process, cluster_of, tail
from tests.integration.conftest import postgres_database
from tests.waiting import until

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]

KILLS = int(os.environ.get("PEGKEEPER_FAILOVER_KILLS", "20"))
POINTS = ("before-request", "after-request", "anywhere")
LEASE = "hedger:BTC-USD-SWAP"
CONTRACT_USD = 100  # BTC-USD-SWAP: one contract is 100 USD
LOW_RATIO, HIGH_RATIO = Decimal("0.95"), Decimal("1.03")  # the stablesats policy's bounds


def _hedger(cluster: Cluster, point: str, occurrence: int) -> Process:
    env = {} if point == "anywhere" else {"PEGKEEPER_PAUSE_AT": f"{point}:{occurrence}"}
    return cluster.start("hedger", env=env)


async def _started(process: Process) -> None:
    await until(lambda: "venue ready" in process.output(), f"{process.name} started", 90)


async def _holder(store: SqlStore) -> str:
    lease = await store.leases.current(LEASE)
    return "" if lease is None else lease.holder.rpartition(":")[0]


async def _kill_the_holder(
    cluster: Cluster, store: SqlStore, point: str, rng: random.Random
) -> tuple[list[Process], int]:
    """Kills the hedgers that paused at their point (as many as did: a standby that took over
    may pause too before the test gets there), or, for "anywhere", the holder at a random
    moment of its activity. Returns the killed and when the last holder died (wall ms): where
    it paused, or when it was killed."""
    hedgers = [p for p in cluster.processes if p.name.startswith("hedger") and p.alive()]
    if point == "anywhere":
        names = {p.name for p in hedgers}

        async def held() -> bool:
            return await _holder(store) in names

        await until(held, "a hedger holding the lease", 60)
        await asyncio.sleep(rng.uniform(0.2, 2.0))
        holder = await _holder(store)
        paused = [p for p in hedgers if p.stopped()]
        victims = paused or [p for p in hedgers if p.name == holder]
    else:
        await until(lambda: any(p.stopped() for p in hedgers), f"a hedger paused at {point}", 90)
        victims = [p for p in hedgers if p.stopped()]
    died_at_ms = max(_paused_at_ms(p) or time.time_ns() // 1_000_000 for p in victims)
    for victim in victims:
        victim.kill()
    return victims, died_at_ms


def _paused_at_ms(process: Process) -> int | None:
    for line in reversed(process.output().splitlines()):
        if '"pausing at a test point"' in line:
            stamp = json.loads(line)["timestamp"].replace("Z", "+00:00")
            return int(datetime.fromisoformat(stamp).timestamp() * 1000)
    return None


async def _first_order_after(store: SqlStore, died_at_ms: int) -> float:
    """Seconds from the holder's death to the first order the next holder made."""
    found: list[int] = []

    async def made() -> bool:
        orders = await store.hedge.recent_orders(20)
        found[:] = [o.intent.created_at_ms for o in orders if o.intent.created_at_ms > died_at_ms]
        return bool(found)

    await until(made, "the next holder's first order", 120)
    return (min(found) - died_at_ms) / 1000


async def _only_a_hedger_without_pause_points(cluster: Cluster) -> None:
    """The others would go on pausing at their points with no one left to kill them."""
    armed = [p for p in cluster.processes if p.name.startswith("hedger") and p.alive()]
    await _started(_hedger(cluster, "anywhere", 0))
    for process in armed:
        process.kill()


def _report(failovers_s: list[float]) -> None:
    """For `make bench`: the failover times, to the file PEGKEEPER_FAILOVER_REPORT names."""
    path = os.environ.get("PEGKEEPER_FAILOVER_REPORT")
    if path:
        Path(path).write_text(json.dumps({"failover_seconds": failovers_s}))


async def _ready_standbys(cluster: Cluster, count: int) -> None:
    """Hedgers started beforehand, so that a standby is always up when its holder dies
    (a process takes seconds to start)."""

    def started() -> int:
        alive = [p for p in cluster.processes if p.name.startswith("hedger") and p.alive()]
        return sum("venue ready" in p.output() and not p.stopped() for p in alive)

    await until(lambda: started() >= count, f"{count} hedgers up", 120)


async def test_kill_9_of_the_active_hedger_again_and_again(tmp_path: Path) -> None:
    rng = random.Random(20261207)
    async with postgres_database() as url:
        with cluster_of(tmp_path, url) as cluster:
            web = cluster.start("web")
            cluster.wait_http(web)
            store = await open_store(url, migrate=False)
            flow = LiabilityFlow(web.http_url, seed=7)
            try:
                for _ in range(3):  # the holder and two standbys
                    _hedger(cluster, rng.choice(POINTS[:2]), rng.randint(2, 3))
                await _ready_standbys(cluster, 3)
                flow.start()
                failovers_s: list[float] = []
                killed = 0
                while killed < KILLS:
                    victims, died_at_ms = await _kill_the_holder(
                        cluster, store, rng.choice(POINTS), rng
                    )
                    for _ in victims:  # the pool stays three: a holder and two standbys
                        # a holder pauses at its 2nd or 3rd request: its first one is sent,
                        # so the failover ends with the next holder's first order
                        _hedger(cluster, rng.choice(POINTS[:2]), rng.randint(2, 3))
                    assert not any(v.alive() for v in victims)
                    killed += len(victims)
                    failovers_s.append(await _first_order_after(store, died_at_ms))
                _report(failovers_s)
                await _only_a_hedger_without_pause_points(cluster)
                flow.stop()
                await settled(cluster, store, flow.balance_cents)
                await check_the_records(cluster, store, flow)
            finally:
                flow.stop()
                await store.close()
                for process in cluster.processes:
                    process.wake()


async def test_a_hedger_woken_after_its_lease_sends_nothing(tmp_path: Path) -> None:
    async with postgres_database() as url:
        with cluster_of(tmp_path, url) as cluster:
            web = cluster.start("web")
            cluster.wait_http(web)
            store = await open_store(url, migrate=False)
            flow = LiabilityFlow(web.http_url, seed=11)
            try:
                first = _hedger(cluster, "before-request", 2)
                await _started(first)
                await until(_holds(store, first), "the first hedger holding the lease", 30)
                standby = cluster.start("hedger")
                await _started(standby)
                flow.start()
                await until(first.stopped, "the holder paused before an order's request", 90)
                pending = [o.intent.client_order_id for o in await store.hedge.open_orders()]
                assert len(pending) == 1  # its order row is committed, its request not sent
                paused_at = time.monotonic()
                await until(_holds(store, standby), "the standby taking over", 30)
                await asyncio.sleep(
                    max(0.0, LEASE_TTL_SECONDS * 2 - (time.monotonic() - paused_at))
                )
                before_wake = await store.hedge.recent_orders(10_000)
                first.wake()
                await until(lambda: "lease lost" in first.output(), "the woken one giving up", 30)
                flow.stop()
                await settled(cluster, store, flow.balance_cents)
                # the woken process sent nothing: its pending order never reached the venue
                assert cluster.order_requests().get(pending[0], 0) == 0, tail(first)
                after = {o.intent.client_order_id for o in await store.hedge.recent_orders(10_000)}
                assert {o.intent.client_order_id for o in before_wake} <= after
                assert first.alive() and not first.stopped()
                await check_the_records(cluster, store, flow)
            finally:
                flow.stop()
                await store.close()


def _holds(store: SqlStore, process: Process):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return await _holder(store) == process.name

    return check

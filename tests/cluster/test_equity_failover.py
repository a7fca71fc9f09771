"""The equity hedger and its standbys as separate processes on PostgreSQL, reading Raindex fills
from a local chain (anvil) and hedging them at the local Alpaca server (its own process), with
takers filling the maker's orders all along. The active hedger is killed (kill -9) at points of
its order path and at random moments, again and again; a standby takes over each time.
Afterwards: no broker order was sent twice, every order at the broker is in the store and linked
to the onchain fills it hedges, the shares bought and sold at the broker are what the onchain
fills call for, and every onchain fill is in the store once. A hedger paused longer than its
lease and then woken writes and sends nothing."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.equities.ledger import LedgerSnapshot
from tests.cluster.equity_flow import FillFlow
from tests.cluster.equity_support import (
    HELD_SHARES,
    SYMBOLS,
    EquityCluster,
    equity_cluster_of,
)
from tests.cluster.support import LEASE_TTL_SECONDS, Process, tail
from tests.integration.conftest import postgres_database
from tests.waiting import until

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]

KILLS = int(os.environ.get("PEGKEEPER_EQUITY_KILLS", "3"))
POINTS = ("before-request", "after-request", "anywhere")
LEASE = "equity-hedger"
BrokerOrder = dict[str, Any]  # an order as the local Alpaca shows it
STARTED = "service started"  # the process is up: holding the lease or standing by
PAUSED = "pausing at a test point"


def _hedger(cluster: EquityCluster, point: str, occurrence: int) -> Process:
    env = {} if point == "anywhere" else {"PEGKEEPER_PAUSE_AT": f"{point}:{occurrence}"}
    return cluster.start(env=env)


async def _started(process: Process) -> None:
    def started() -> bool:
        assert process.alive(), tail(process)
        return STARTED in process.output()

    await until(started, f"{process.name} started", 90)


async def _holder(store: SqlStore) -> str:
    lease = await store.leases.current(LEASE)
    return "" if lease is None else lease.holder.rpartition(":")[0]


def _holds(store: SqlStore, process: Process) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await _holder(store) == process.name

    return check


async def _ready_standbys(cluster: EquityCluster, count: int) -> None:
    """Hedgers started beforehand, so that a standby is up when its holder dies."""

    def started() -> int:
        return sum(STARTED in p.output() for p in cluster.alive())

    await until(lambda: started() >= count, f"{count} equity hedgers up", 120)


async def _kill_the_holder(
    cluster: EquityCluster, store: SqlStore, point: str, rng: random.Random
) -> Process:
    """Kills the active hedger where it paused at its point, or, for "anywhere", at a random
    moment of its activity (one that paused meanwhile is killed where it paused)."""
    hedgers = cluster.alive()
    if point == "anywhere":
        names = {p.name for p in hedgers}

        async def held() -> bool:
            return await _holder(store) in names

        await until(held, "an equity hedger holding the lease", 60)
        await asyncio.sleep(rng.uniform(0.2, 2.0))
        name = await _holder(store)
        victim = next((p for p in hedgers if p.stopped()), None)
        victim = victim or next(p for p in hedgers if p.name == name)
    else:
        await until(lambda: any(p.stopped() for p in hedgers), f"a hedger paused at {point}", 90)
        victim = next(p for p in hedgers if p.stopped())
    victim.kill()
    return victim


async def _settled(store: SqlStore, flow: FillFlow) -> None:
    """Every emitted fill ingested, no order open, no exposure left."""
    emitted = {f.fill_id for f in flow.emitted}

    async def done() -> bool:
        snapshot = await store.equities.ledger_snapshot()
        if not emitted <= {f.fill_id for f in snapshot.onchain_fills}:
            return False
        if await store.equities.open_broker_orders():
            return False
        exposures = await store.equities.exposures()
        return all(e.exposure == 0 for e in exposures.values())

    await until(done, "every onchain fill ingested and hedged, no order open", 120)


async def test_kill_9_of_the_active_equity_hedger_again_and_again(tmp_path: Path) -> None:
    rng = random.Random(20261207)
    async with postgres_database() as url, equity_cluster_of(tmp_path, url) as cluster:
        flow = FillFlow(cluster.market, seed=7)
        store: SqlStore | None = None
        try:
            for _ in range(3):  # the holder and two standbys
                _hedger(cluster, rng.choice(POINTS[:2]), rng.randint(1, 3))
            await _ready_standbys(cluster, 3)
            store = await open_store(url, migrate=False)
            flow.start()
            unsent = 0  # orders committed by a hedger killed before their request
            for round_ in range(KILLS):
                await _ready_standbys(cluster, 2)
                victim = await _kill_the_holder(cluster, store, rng.choice(POINTS), rng)
                _hedger(cluster, rng.choice(POINTS[:2]), rng.randint(1, 3))
                assert not victim.alive(), f"round {round_}"
                unsent += f'"point": "{POINTS[0]}"' in victim.output()
            await flow.stop()
            await _settled(store, flow)
            await _check_the_records(cluster, store, flow)
            # each of those was looked up by the next holder and declared lost, never sent
            orders = (await store.equities.ledger_snapshot()).broker_orders
            assert sum(o.state is BrokerOrderState.LOST for o in orders) >= unsent
        finally:
            await flow.stop()
            if store is not None:
                await store.close()
            for process in cluster.processes:
                process.wake()


async def _check_the_records(cluster: EquityCluster, store: SqlStore, flow: FillFlow) -> None:
    snapshot = await store.equities.ledger_snapshot()
    _check_the_onchain_fills(snapshot, flow)
    # no client order id sent twice: an order in doubt was looked up, not sent again
    posted = cluster.alpaca.posted()
    assert all(n == 1 for n in posted.values()), {k: n for k, n in posted.items() if n > 1}
    at_broker = {o["client_order_id"]: o for o in cluster.alpaca.orders()}
    assert set(at_broker) == set(posted)
    _check_the_orders(snapshot, at_broker)
    _check_the_links(snapshot, at_broker)
    # the shares bought and sold at the broker are what the onchain fills call for: the maker
    # sold onchain -> bought at the broker, and the other way round
    bought: dict[str, Decimal] = defaultdict(Decimal)
    for order in at_broker.values():
        sign = 1 if order["side"] == "buy" else -1
        bought[order["symbol"]] += sign * Decimal(order["filled_qty"])
    net = flow.net()
    assert {s: bought[s] for s in SYMBOLS} == {s: -net[s] for s in SYMBOLS}
    positions = cluster.alpaca.positions()
    held = {s: positions.get(s, Decimal(0)) for s in SYMBOLS}
    assert held == {s: HELD_SHARES - net[s] for s in SYMBOLS}


def _check_the_onchain_fills(snapshot: LedgerSnapshot, flow: FillFlow) -> None:
    """Every onchain fill emitted is stored once, as emitted, and nothing else."""
    stored = {f.fill_id: f for f in snapshot.onchain_fills}
    assert len(stored) == len(snapshot.onchain_fills)
    assert set(stored) == {f.fill_id for f in flow.emitted}
    for fill in flow.emitted:
        record = stored[fill.fill_id]
        as_emitted = (fill.symbol, fill.signed_shares, fill.usdc, False)
        assert (record.symbol, record.signed_shares, record.usdc, record.reverted) == as_emitted


def _check_the_orders(snapshot: LedgerSnapshot, at_broker: dict[str, BrokerOrder]) -> None:
    """Every order at the broker is in the store, as filled as the broker says; one the broker
    never saw ended lost or failed, with nothing filled."""
    orders = {o.intent.client_order_id: o for o in snapshot.broker_orders}
    assert set(at_broker) <= set(orders)
    for client_order_id, order in at_broker.items():
        record = orders[client_order_id]
        assert (record.intent.symbol, record.intent.side.value) == (order["symbol"], order["side"])
        assert record.filled_quantity == Decimal(order["filled_qty"]), client_order_id
    for client_order_id, record in orders.items():
        if client_order_id not in at_broker:
            assert record.state in (BrokerOrderState.LOST, BrokerOrderState.FAILED), record
            assert record.filled_quantity == 0


def _check_the_links(snapshot: LedgerSnapshot, at_broker: dict[str, BrokerOrder]) -> None:
    """Each broker order's fills are allocated, in full, to onchain fills of its symbol on the
    other side, none of which is covered beyond its shares."""
    onchain = {f.fill_id: f for f in snapshot.onchain_fills}
    covered: dict[str, Decimal] = defaultdict(Decimal)
    allocated: dict[str, Decimal] = defaultdict(Decimal)
    for allocation in snapshot.allocations:
        fill = onchain[allocation.onchain_fill_id]
        order = at_broker[allocation.client_order_id]
        assert fill.symbol == order["symbol"]
        assert (fill.signed_shares > 0) == (order["side"] == "sell"), allocation
        covered[fill.fill_id] += allocation.shares
        allocated[allocation.client_order_id] += allocation.shares
    for client_order_id, order in at_broker.items():
        assert allocated[client_order_id] == Decimal(order["filled_qty"]), client_order_id
    for fill_id, shares in covered.items():
        assert shares <= abs(onchain[fill_id].signed_shares), fill_id


async def test_an_equity_hedger_woken_after_its_lease_sends_nothing(tmp_path: Path) -> None:
    async with postgres_database() as url, equity_cluster_of(tmp_path, url) as cluster:
        flow = FillFlow(cluster.market, seed=11)
        store: SqlStore | None = None
        try:
            first = _hedger(cluster, "before-request", 1)
            await _started(first)
            store = await open_store(url, migrate=False)
            await until(_holds(store, first), "the first hedger holding the lease", 30)
            standby = cluster.start()
            await _started(standby)
            flow.start()
            await until(first.stopped, "the holder paused before an order's request", 90)
            pending = [o.intent.client_order_id for o in await store.equities.open_broker_orders()]
            assert len(pending) == 1  # its order row is committed, its request not sent
            paused_at = time.monotonic()
            await until(_holds(store, standby), "the standby taking over", 30)
            await asyncio.sleep(max(0.0, LEASE_TTL_SECONDS * 2 - (time.monotonic() - paused_at)))
            before_wake = await store.equities.ledger_snapshot()
            first.wake()
            await until(lambda: "lease lost" in first.output(), "the woken one giving up", 30)
            await flow.stop()
            await _settled(store, flow)
            # the woken process sent nothing: its pending order never reached the broker
            assert cluster.alpaca.posted().get(pending[0], 0) == 0, tail(first)
            assert "broker order" not in first.output().partition(PAUSED)[2], tail(first)
            after = await store.equities.ledger_snapshot()
            kept = {o.intent.client_order_id for o in after.broker_orders}
            assert {o.intent.client_order_id for o in before_wake.broker_orders} <= kept
            assert first.alive() and not first.stopped()
            await _check_the_records(cluster, store, flow)
        finally:
            await flow.stop()
            if store is not None:
                await store.close()

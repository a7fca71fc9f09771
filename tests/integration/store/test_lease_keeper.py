"""The lease keeper on SQLite and PostgreSQL: one of two keepers runs the service, the other
takes over when the first stops; a holder that cannot renew stops its service before the lease
expires; a write or a request of a service whose lease is gone is refused."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.leases import Lease, LeaseLost, LeaseState
from pegkeeper.domain.liability import LiabilityChange
from pegkeeper.services.execution.core import attempt
from pegkeeper.services.lease_keeper import LeaseKeeper
from tests.integration.store.fencing_support import HeldLease, as_holder
from tests.waiting import until

TTL_SECONDS = 1.0


def _keeper(store: SqlStore, holder: str, name: str = "hedger:BTC-USD-SWAP") -> LeaseKeeper:
    return LeaseKeeper(store.leases, name, holder, TTL_SECONDS, RealClock())


def _change(event_id: str) -> LiabilityChange:
    return LiabilityChange(event_id, 100, "", "test")


async def test_one_keeper_runs_the_service_and_the_standby_takes_over(store: SqlStore) -> None:
    running: list[str] = []

    def service(holder: str):  # type: ignore[no-untyped-def]
        async def body() -> None:
            running.append(holder)
            # the service's writes are fenced with its lease and go through while it holds
            await store.liability.append(_change(f"{holder}-{len(running)}"), "c", 1)
            await asyncio.Event().wait()

        return body

    a, b = _keeper(store, "host-a:1"), _keeper(store, "host-b:2")
    task_a = asyncio.create_task(a.run(service("a")))
    await until(lambda: running == ["a"], "a running")
    task_b = asyncio.create_task(b.run(service("b")))
    await asyncio.sleep(TTL_SECONDS * 1.5)  # a renews: b stays a standby
    assert running == ["a"]
    assert (a.state, b.state) == (LeaseState.HELD, LeaseState.WAITING)
    assert b.status().holder == "host-a:1" and b.status().epoch == 1
    task_a.cancel()  # stopping releases the lease: b need not wait for it to expire
    with contextlib.suppress(asyncio.CancelledError):
        await task_a
    await until(lambda: running == ["a", "b"], "b taking over")

    async def both_wrote() -> bool:
        return await store.liability.balance_cents() == 200

    await until(both_wrote, "b's write")
    lease = await store.leases.current("hedger:BTC-USD-SWAP")
    assert lease is not None and (lease.holder, lease.epoch) == ("host-b:2", 2)
    assert await store.liability.balance_cents() == 200
    task_b.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task_b


class _Unreachable:
    """The store's leases, unreachable after the first acquire (a partition)."""

    def __init__(self, store: SqlStore) -> None:
        self._leases = store.leases
        self.cut = False

    async def acquire(self, name: str, holder: str, ttl_ms: int) -> Lease | None:
        if self.cut:
            raise OSError("connection refused")
        return await self._leases.acquire(name, holder, ttl_ms)

    async def release(self, lease: Lease) -> bool:
        return await self._leases.release(lease)

    async def current(self, name: str) -> Lease | None:
        return await self._leases.current(name)


async def test_a_holder_that_cannot_renew_stops_before_its_lease_expires(
    store: SqlStore,
) -> None:
    leases = _Unreachable(store)
    keeper = LeaseKeeper(leases, "funding", "host-a:1", TTL_SECONDS, RealClock())
    stopped_at_ms: list[int] = []

    async def service() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            lease = await store.leases.current("funding")
            assert lease is not None
            stopped_at_ms.append(lease.expires_at_ms)

    task = asyncio.create_task(keeper.run(service))
    await until(lambda: keeper.state is LeaseState.HELD, "the lease")
    leases.cut = True
    await until(lambda: bool(stopped_at_ms), "the service stopped")
    # the service was stopped while the lease was still valid in the database
    assert await store.leases.acquire("funding", "host-b:2", 60_000) is None
    assert keeper.state is LeaseState.WAITING and "connection refused" in keeper.store_error
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_write_under_a_lease_taken_over_is_refused_by_the_database(
    store: SqlStore,
) -> None:
    old = await store.leases.acquire("funding", "host-a:1", 1_000)
    assert old is not None
    await as_holder(HeldLease(old, False), lambda: store.liability.append(_change("1"), "c", 1))
    await asyncio.sleep(1.1)
    new = await store.leases.acquire("funding", "host-b:2", 60_000)
    assert new is not None and new.epoch == 2
    # its local clock says it still holds (it was paused): the database refuses anyway
    with pytest.raises(LeaseLost, match="no longer held by host-a:1 at epoch 1"):
        await as_holder(HeldLease(old, False), lambda: store.liability.append(_change("2"), "c", 1))
    assert await store.liability.balance_cents() == 100
    assert await store.liability.get("2") is None


async def test_a_request_after_the_local_deadline_is_not_sent(store: SqlStore) -> None:
    lease = await store.leases.acquire("funding", "host-a:1", 60_000)
    assert lease is not None
    sent: list[str] = []

    async def request() -> str:
        sent.append("sent")
        return "accepted"

    with pytest.raises(LeaseLost):
        await as_holder(HeldLease(lease, True), lambda: attempt(request()))
    with pytest.raises(LeaseLost):
        await as_holder(
            HeldLease(lease, True), lambda: store.liability.append(_change("1"), "c", 1)
        )
    assert sent == [] and await store.liability.balance_cents() == 0
    answered = await as_holder(HeldLease(lease, False), lambda: attempt(request()))
    assert (answered.answer, sent) == ("accepted", ["sent"])


async def test_a_cancel_after_the_local_deadline_is_not_asked(store: SqlStore) -> None:
    from pegkeeper.adapters.bus.memory import MemoryBus
    from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide
    from pegkeeper.services.execution.orders import OrderExecution
    from tests.fakes import FakeVenue

    lease = await store.leases.acquire("hedger:BTC-USD-SWAP", "host-a:1", 60_000)
    assert lease is not None
    venue = FakeVenue()
    execution = OrderExecution(store, venue, MemoryBus(), RealClock(), lookup_window_seconds=5)
    intent = OrderIntent(
        "pk1", "BTC-USD-SWAP", OrderKind.LIMIT, OrderSide.SELL, Decimal(3), "d", "c", 0, Decimal(1)
    )
    with pytest.raises(LeaseLost):
        await as_holder(HeldLease(lease, True), lambda: execution.cancel(intent))
    assert venue.orders == {}  # nothing was asked of the venue


async def test_a_failing_service_gives_its_lease_up_and_a_lost_one_waits_again(
    store: SqlStore,
) -> None:
    keeper = _keeper(store, "host-a:1", "equity-hedger")

    async def failing() -> None:
        raise RuntimeError("the node is gone")

    with pytest.raises(RuntimeError, match="the node is gone"):
        await keeper.run(failing)
    released = await store.leases.current("equity-hedger")
    assert released is not None and released.holder == "host-a:1"
    taken = await store.leases.acquire("equity-hedger", "host-b:2", 60_000)
    assert taken is not None and taken.epoch == 2  # no wait for the lease to expire
    await store.leases.release(taken)

    runs: list[int] = []

    async def lost_in_a_group() -> None:
        runs.append(1)
        async with asyncio.TaskGroup() as group:  # as the equity hedger's tasks run
            group.create_task(_raise(LeaseLost("fenced")))
            group.create_task(_raise(LeaseLost("fenced too")))

    task = asyncio.create_task(keeper.run(lost_in_a_group))
    await until(lambda: len(runs) >= 2, "the service run again once the lease is back")
    assert not task.done()  # the keeper went on: waited, took the lease again, ran again
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _raise(error: Exception) -> None:
    raise error

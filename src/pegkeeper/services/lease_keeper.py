"""A singleton service run by one process of the cluster at a time (specs/distributed.md).

The keeper waits for its lease as a standby, runs the service while it holds it, and renews
it every third of its time. It stops the service, before the lease can expire in the
database, when a renewal has not succeeded by the local deadline: the lease's time counted
from when the last successful renewal was asked, less a margin for the clocks' drift. Every
write of the service is fenced by the lease (domain.leases.act_under), and every request that
moves money is sent only while the local deadline has not passed, so a process woken from a
pause longer than its lease neither writes nor sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from enum import Enum

import structlog

from pegkeeper.domain.leases import Lease, LeaseLost, LeaseState, LeaseStatus, act_under
from pegkeeper.ports import Clock
from pegkeeper.ports.leases import LeaseRepository

log = structlog.get_logger("pegkeeper.leases")

DRIFT_MARGIN = 0.2  # of the lease's time: the local deadline comes this much before expiry


class Renewal(Enum):
    HELD = "held"
    LOST = "lost"  # another process holds it, or it was taken again at a new epoch
    UNKNOWN = "unknown"  # the store did not answer: held until the local deadline at most


class LeaseKeeper:
    def __init__(
        self,
        leases: LeaseRepository,
        name: str,
        holder: str,
        ttl_seconds: float,
        clock: Clock,
    ) -> None:
        """`clock` must be real time (its monotonic reading): the lease runs on the database's
        real clock, whatever clock the services run on."""
        self._leases = leases
        self.name = name
        self.holder = holder
        self._ttl_ms = int(ttl_seconds * 1000)
        self._clock = clock
        self._lease: Lease | None = None
        self._deadline_ms = 0  # monotonic: act no longer after this
        self._seen: Lease | None = None  # the holder as last read
        self.state = LeaseState.STOPPED
        self.takeovers = 0  # times this process took the lease
        self.store_error = ""  # why the last renewal got no answer ("" when it did)

    def lease_for_write(self) -> Lease:
        lease = self._lease
        if lease is None or self._clock.monotonic_ms() >= self._deadline_ms:
            raise LeaseLost(f"lease {self.name!r} is not held by {self.holder} any more")
        return lease

    def status(self) -> LeaseStatus:
        seen = self._lease or self._seen
        if seen is None:
            return LeaseStatus(self.name, self.state, "", 0, 0, self.store_error)
        return LeaseStatus(
            self.name, self.state, seen.holder, seen.epoch, seen.expires_at_ms, self.store_error
        )

    async def run(self, service: Callable[[], Awaitable[object]]) -> None:
        """Until cancelled: waits for the lease, runs `service()` while it is held, and waits
        again when it is lost. A service that fails gives the lease up at once (a standby
        takes over without waiting for it to expire) and the failure is raised."""
        try:
            while True:
                await self._wait_for_lease()
                await self._run_while_held(service)
        finally:
            self.state = LeaseState.STOPPED
            await self._release()

    async def _wait_for_lease(self) -> None:
        self.state = LeaseState.WAITING
        while await self._renew() is not Renewal.HELD:
            await self._clock.sleep(self._ttl_ms / 3000)
        self.takeovers += 1
        self.state = LeaseState.HELD
        assert self._lease is not None
        log.info("lease taken", lease=self.name, holder=self.holder, epoch=self._lease.epoch)

    async def _renew(self) -> Renewal:
        """One conditional write that takes or renews the lease (pushing the local deadline
        on when it does)."""
        asked_ms = self._clock.monotonic_ms()
        try:
            lease = await self._leases.acquire(self.name, self.holder, self._ttl_ms)
        except Exception as error:  # the store unreachable, whatever the driver raises
            self.store_error = f"{type(error).__name__}: {error}"
            log.warning("lease not renewed", lease=self.name, error=self.store_error)
            return Renewal.UNKNOWN
        self.store_error = ""
        held = self._lease
        if lease is None or (held is not None and lease.epoch != held.epoch):
            # another process holds it, or it expired and this is a new epoch: the work done
            # under the old one is over either way
            self._lease = None
            self._seen = lease or await self._current()
            return Renewal.LOST
        self._lease = lease
        self._deadline_ms = asked_ms + int(self._ttl_ms * (1 - DRIFT_MARGIN))
        return Renewal.HELD

    async def _current(self) -> Lease | None:
        with contextlib.suppress(Exception):
            return await self._leases.current(self.name)
        return None

    async def _run_while_held(self, service: Callable[[], Awaitable[object]]) -> None:
        task = _fenced_task(service, self, f"{self.name} (lease)")
        try:
            while not task.done():
                wait_ms = self._renew_wait_ms()
                done, _ = await asyncio.wait({task}, timeout=wait_ms / 1000)
                if done:
                    break
                renewal = await self._renew()
                if renewal is Renewal.LOST or (
                    renewal is Renewal.UNKNOWN and self._past_deadline()
                ):
                    log.warning("lease lost: stopping", lease=self.name, holder=self.holder)
                    break
        finally:
            if not task.done():
                task.cancel()
            await asyncio.wait({task})
        lease, self._lease = self._lease, None
        self.state = LeaseState.WAITING
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        if _lease_lost(error):
            log.warning("lease lost: the service stopped", lease=self.name, holder=self.holder)
            return
        self._lease = lease
        await self._release()  # a standby takes over at once, not after the lease expires
        raise error

    def _renew_wait_ms(self) -> int:
        """A third of the lease between renewals; less once a renewal failed, so a short
        outage of the store is retried before the deadline."""
        left_ms = self._deadline_ms - self._clock.monotonic_ms()
        return max(50, min(self._ttl_ms // 3, left_ms // 2))

    def _past_deadline(self) -> bool:
        return self._clock.monotonic_ms() >= self._deadline_ms

    async def _release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self._leases.release(lease)
            log.info("lease released", lease=self.name, holder=self.holder)


def _lease_lost(error: BaseException) -> bool:
    """The service ended because its lease was lost (in every task of a group, if it is one)."""
    if isinstance(error, BaseExceptionGroup):
        return all(_lease_lost(each) for each in error.exceptions)
    return isinstance(error, LeaseLost)


def _fenced_task(
    service: Callable[[], Awaitable[object]], keeper: LeaseKeeper, name: str
) -> asyncio.Task[object]:
    """The service's task, in a context where its writes are fenced by `keeper` (the keeper's
    own renewals are not)."""
    context = contextvars.copy_context()
    context.run(act_under, keeper)

    async def body() -> object:
        return await service()

    return asyncio.get_running_loop().create_task(body(), name=name, context=context)

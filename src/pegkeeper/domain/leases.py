"""Leases with fencing (specs/distributed.md): one holder at a time for each singleton service
(a hedger leg, funding, the ledger poller, chain ingestion, the equity hedger, ...).

A lease is taken and renewed on the database's clock. Its epoch rises at every change of holder
and whenever a lease is taken again after it expired, so a write stamped with an older epoch
can be refused inside its own transaction: a holder paused past its lease cannot write again.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from pegkeeper.domain.errors import ConflictError, InvalidInput

MIN_TTL_MS = 1_000


@dataclass(frozen=True, slots=True)
class Lease:
    name: str  # the singleton, e.g. "hedger:BTC-USD-SWAP", "equity-hedger"
    holder: str  # the process that holds it (host, pid and a random part)
    epoch: int  # 1 for the first holder; +1 at every taking over
    expires_at_ms: int  # on the database's clock


class LeaseState(StrEnum):
    HELD = "held"  # this process acts for the singleton
    WAITING = "waiting"  # a standby: another process holds it
    STOPPED = "stopped"  # not trying (the service stopped, or the process is stopping)


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    """What a process says about one of its leases in /readyz and the dashboard."""

    name: str
    state: LeaseState
    holder: str  # who holds it now, as last read ("" when no one)
    epoch: int  # the holder's epoch as last read (0 when no one)
    expires_at_ms: int  # on the database's clock (0 when no one)
    store_error: str = ""  # why the last attempt to take or renew it got no answer


class LeaseLost(ConflictError):
    """The lease is held by another process now, or expired: the write is refused and nothing
    was changed. The process must stop acting for that singleton."""


def check_lease_request(name: str, holder: str, ttl_ms: int) -> None:
    if not name or not holder:
        raise InvalidInput(f"a lease needs a name and a holder, got {name!r} and {holder!r}")
    if ttl_ms < MIN_TTL_MS:
        raise InvalidInput(f"a lease lasts at least {MIN_TTL_MS} ms, not {ttl_ms}")


class LeaseSource(Protocol):
    def lease_for_write(self) -> Lease:
        """The lease to fence a write with; raises LeaseLost when the holder must no longer
        act (it lost the lease, or its local deadline passed)."""
        ...


_ACTING_UNDER: ContextVar[LeaseSource | None] = ContextVar("pegkeeper_lease", default=None)


def act_under(source: LeaseSource | None) -> None:
    """From now on, in this task and the tasks it starts, every write is fenced by `source`'s
    lease and every request that moves money is sent only while it holds."""
    _ACTING_UNDER.set(source)


def acting_lease() -> Lease | None:
    """The lease the current task's writes must be fenced with (None: not a singleton's task);
    raises LeaseLost when that lease may no longer be used."""
    source = _ACTING_UNDER.get()
    return None if source is None else source.lease_for_write()


def check_still_acting() -> None:
    """Called right before a request that moves money leaves: raises LeaseLost when the task
    acts for a singleton whose lease it may no longer rely on (a process woken after a pause
    longer than its lease sends nothing)."""
    acting_lease()

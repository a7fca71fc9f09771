"""Leases with fencing (specs/distributed.md): one holder at a time for each singleton service
(a hedger leg, funding, the ledger poller, chain ingestion, the equity hedger, ...).

A lease is taken and renewed on the database's clock. Its epoch rises at every change of holder
and whenever a lease is taken again after it expired, so a write stamped with an older epoch
can be refused inside its own transaction: a holder paused past its lease cannot write again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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


class LeaseLost(ConflictError):
    """The lease is held by another process now, or expired: the write is refused and nothing
    was changed. The process must stop acting for that singleton."""


def check_lease_request(name: str, holder: str, ttl_ms: int) -> None:
    if not name or not holder:
        raise InvalidInput(f"a lease needs a name and a holder, got {name!r} and {holder!r}")
    if ttl_ms < MIN_TTL_MS:
        raise InvalidInput(f"a lease lasts at least {MIN_TTL_MS} ms, not {ttl_ms}")

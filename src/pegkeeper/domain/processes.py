"""The processes of a cluster (specs/distributed.md): each says who it is and which services
it runs, and beats every few seconds on the database's clock; one that missed three beats is
stale (stopped, paused or cut off), whatever it last said."""

from __future__ import annotations

from dataclasses import dataclass

STALE_AFTER_BEATS = 3


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """What a process says about itself."""

    process_id: str  # unique per run; the holder string of its leases
    name: str  # [cluster] process_name, or host-pid
    host: str
    pid: int
    services: tuple[str, ...]
    ops_url: str  # where its /healthz, /readyz and /metrics answer ("" when nowhere)


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A process as the registry last heard from it, on the database's clock."""

    info: ProcessInfo
    started_at_ms: int  # its first beat
    seen_at_ms: int  # its last beat


def is_stale(seen_at_ms: int, now_ms: int, interval_ms: int) -> bool:
    """True once more than STALE_AFTER_BEATS beats of `interval_ms` passed without one."""
    return now_ms - seen_at_ms > STALE_AFTER_BEATS * interval_ms

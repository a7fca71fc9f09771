"""The cluster as the dashboard shows it: every process heard from lately, stale or not, and
every lease with its holder, all judged on the database's clock (the one they are stamped with)."""

from __future__ import annotations

from dataclasses import dataclass

from pegkeeper.domain.leases import Lease
from pegkeeper.domain.processes import STALE_AFTER_BEATS, ProcessRecord, is_stale
from pegkeeper.ports.leases import LeaseRepository
from pegkeeper.ports.processes import ProcessRepository

SHOWN_FOR_MS = 3_600_000  # a process gone quiet stays on the page (as stale) this long


@dataclass(frozen=True, slots=True)
class ProcessRow:
    record: ProcessRecord
    seen_ago_ms: int
    stale: bool


@dataclass(frozen=True, slots=True)
class LeaseRow:
    lease: Lease
    holder_name: str | None  # the holder's process name, when it is in the registry
    expires_in_ms: int  # negative: expired that long ago

    @property
    def expired(self) -> bool:
        return self.expires_in_ms <= 0


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    now_ms: int  # the database's clock
    stale_after_ms: int
    processes: list[ProcessRow]
    leases: list[LeaseRow]


class ClusterView:
    def __init__(
        self,
        processes: ProcessRepository,
        leases: LeaseRepository,
        heartbeat_interval_seconds: float,
    ) -> None:
        self._processes = processes
        self._leases = leases
        self._interval_ms = int(heartbeat_interval_seconds * 1000)

    async def status(self) -> ClusterStatus:
        now_ms = await self._processes.now_ms()
        records = await self._processes.recent(now_ms - SHOWN_FOR_MS)
        names = {r.info.process_id: r.info.name for r in records}
        rows = [
            ProcessRow(r, now_ms - r.seen_at_ms, is_stale(r.seen_at_ms, now_ms, self._interval_ms))
            for r in records
        ]
        leases = [
            LeaseRow(lease, names.get(lease.holder), lease.expires_at_ms - now_ms)
            for lease in await self._leases.all()
        ]
        return ClusterStatus(now_ms, STALE_AFTER_BEATS * self._interval_ms, rows, leases)

"""The peg monitor's store side: the rows of its readings written, and the raw rows downsampled
to minutes once older than the retention.

Every replica of the peg monitor computes and publishes its readings; one records them (the
singleton `peg-monitor`, under its lease where processes share the store), so each row is
stored once and the downsampling runs in one place, its writes fenced by the lease. A replica
that is not recording keeps no rows: the holder records its own readings, which are the same
(every replica reads the same prices). A standby taking over records from then on; the rows of
the time between a crashed holder's last write and the takeover (at most the lease's time) are
not stored.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

import structlog

from pegkeeper.domain.leases import LeaseLost
from pegkeeper.domain.records import PegStatsRow
from pegkeeper.ports import Clock, PegRepository

log = structlog.get_logger("pegkeeper.pegs")

# Rows waiting for a write: minutes of readings at the default interval; a store that stalls
# longer loses the oldest rather than the process's memory.
MAX_PENDING_ROWS = 10_000


class PegRecorder:
    def __init__(
        self,
        repository: PegRepository,
        clock: Clock,
        raw_retention_ms: int,
        retention_check_ms: int,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._raw_retention_ms = raw_retention_ms
        self._retention_check_ms = retention_check_ms
        self._pending: deque[PegStatsRow] = deque(maxlen=MAX_PENDING_ROWS)
        self._arrived = asyncio.Event()
        self.recording = False  # while `run` runs: this replica records

    def offer(self, rows: Iterable[PegStatsRow]) -> None:
        """Rows to store, kept only while this replica records."""
        if not self.recording:
            return
        self._pending.extend(rows)
        if self._pending:
            self._arrived.set()

    async def run(self) -> None:
        """Records until cancelled: each row offered, once, and the downsampling every
        `retention_check_ms`. A write refused for a lost lease ends it (LeaseLost); rows not
        yet written are then dropped, the new holder records its own."""
        self.recording = True
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._retention(), name="peg-retention")
                while True:
                    await self._arrived.wait()
                    self._arrived.clear()
                    await self.flush()
        finally:
            self.recording = False
            self._pending.clear()

    async def flush(self) -> None:
        """Writes the rows offered so far."""
        rows = list(self._pending)
        self._pending.clear()
        if rows:
            await self._repository.record(rows)

    async def _retention(self) -> None:
        while True:
            await self._clock.sleep(self._retention_check_ms / 1000)
            cutoff_ms = self._clock.now_ms() - self._raw_retention_ms
            try:
                written = await self._repository.downsample(cutoff_ms)
            except LeaseLost:
                raise
            except Exception:
                log.exception("peg statistics downsampling failed")
                continue
            log.info("peg statistics downsampled", minute_rows=written, before_ms=cutoff_ms)

"""The process's beat in the registry: every few seconds it says who it is and that it still
runs, so the dashboard shows every process of the cluster and which have gone quiet."""

from __future__ import annotations

import structlog

from pegkeeper.domain.processes import ProcessInfo, ProcessRecord
from pegkeeper.ports import Clock
from pegkeeper.ports.processes import ProcessRepository

log = structlog.get_logger("pegkeeper.cluster")

DEFAULT_INTERVAL_SECONDS = 5.0


class ProcessHeartbeat:
    def __init__(
        self,
        processes: ProcessRepository,
        process: ProcessInfo,
        clock: Clock,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self._processes = processes
        self.process = process
        self._clock = clock
        self.interval_seconds = interval_seconds
        self.last: ProcessRecord | None = None
        self.consecutive_failures = 0

    async def run(self) -> None:
        while True:
            await self.beat()
            await self._clock.sleep(self.interval_seconds)

    async def beat(self) -> ProcessRecord | None:
        """One beat; a failed one (the database unreachable) is logged, and the next tried:
        the registry is for people, the process goes on with its work."""
        try:
            self.last = await self._processes.heartbeat(self.process)
        except Exception as error:
            self.consecutive_failures += 1
            log.warning(
                "process heartbeat failed",
                failures=self.consecutive_failures,
                error=f"{type(error).__name__}: {error}",
            )
            return None
        self.consecutive_failures = 0
        return self.last

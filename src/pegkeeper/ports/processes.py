"""The port of the process registry (domain.processes): who runs, where, and when it was last
heard from."""

from __future__ import annotations

from typing import Protocol

from pegkeeper.domain.processes import ProcessInfo, ProcessRecord


class ProcessRepository(Protocol):
    async def heartbeat(self, process: ProcessInfo) -> ProcessRecord:
        """Records a beat now (the database's clock): inserts the process at its first beat,
        else updates what it says about itself and when it was seen."""
        ...

    async def recent(self, since_ms: int) -> list[ProcessRecord]:
        """Every process seen at or after `since_ms` (the database's clock), by name."""
        ...

    async def now_ms(self) -> int:
        """The database's clock, which every beat is stamped with."""
        ...

"""The time the simulated exchange runs on. The simulator imports only the domain, so it names
what it needs of a clock here; every clock of pegkeeper's (real, scaled, manual) fits."""

from __future__ import annotations

from typing import Protocol


class SimClock(Protocol):
    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...

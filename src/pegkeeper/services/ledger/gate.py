"""The ledger gate: may the hedger and the funding service trade on the liability now?

It reads the source's state and backlog from the store, so a hedger in another process than
the poller sees the same gate.
"""

from __future__ import annotations

from pegkeeper.domain.ledger_sync import (
    HTTP_SOURCE,
    Backlog,
    GateSettings,
    LedgerReadiness,
    assess,
)
from pegkeeper.ports import Clock, LedgerBacklogReader, LedgerStateRepository


class LedgerGate:
    def __init__(
        self,
        source: str,
        clock: Clock,
        settings: GateSettings,
        *,
        state: LedgerStateRepository | None = None,
        backlog: LedgerBacklogReader | None = None,
        unpaired_window_seconds: float = 600.0,
    ) -> None:
        if source != HTTP_SOURCE and state is None:
            raise ValueError(f"the {source} ledger gate needs the sources' state")
        self.source = source
        self._clock = clock
        self._settings = settings
        self._state = state
        self._backlog = backlog
        self._unpaired_window_ms = int(unpaired_window_seconds * 1000)

    async def readiness(self) -> LedgerReadiness:
        now_ms = self._clock.now_ms()
        if self.source == HTTP_SOURCE or self._state is None:
            return assess(self.source, None, Backlog(), now_ms, self._settings)
        state = await self._state.get(self.source)
        backlog = Backlog()
        if self._backlog is not None:
            # a transaction without its other leg for longer than the window is not a trade
            # in flight (a deposit, a withdrawal): it is re-checked daily, not waited for
            backlog = await self._backlog.backlog(now_ms - self._unpaired_window_ms)
        return assess(self.source, state, backlog, now_ms, self._settings)

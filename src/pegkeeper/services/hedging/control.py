"""The hedger's switch: operators pause and resume hedging here, and take the hedger's turn
to act on the venue themselves (closing the position) without racing a hedge cycle."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HedgingState:
    paused: bool
    by: str = ""  # the operator who paused or resumed, "" when never touched
    since_ms: int = 0
    note: str = ""


class HedgeControl:
    def __init__(self) -> None:
        self._state = HedgingState(paused=False)
        # Held by the hedger for a whole cycle and by an operator's close: one at a time.
        self.turn = asyncio.Lock()

    @property
    def paused(self) -> bool:
        return self._state.paused

    @property
    def state(self) -> HedgingState:
        return self._state

    def pause(self, by: str, now_ms: int, note: str = "") -> None:
        self._state = HedgingState(True, by, now_ms, note)

    def resume(self, by: str, now_ms: int, note: str = "") -> None:
        self._state = HedgingState(False, by, now_ms, note)

"""A clock for tests whose sleeps pass at once: each sleep moves its time on by its length, so
code that waits on a budget or a backoff runs without waiting, and the waits can be read back."""

from __future__ import annotations

import asyncio
import math


class SteppingClock:
    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = start_ms
        self.slept_seconds = 0.0

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic_ms(self) -> int:
        return self._now_ms

    async def sleep(self, seconds: float) -> None:
        step_ms = max(math.ceil(seconds * 1000), 0)
        self._now_ms += step_ms
        self.slept_seconds += step_ms / 1000
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self._now_ms += math.ceil(seconds * 1000)

"""Clocks: the real one, a manual one for tests and backtests, a scaled one for the demo."""

from __future__ import annotations

import asyncio
import time


class RealClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """Time moves only when told to; sleepers wake when `advance` passes their deadline."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = start_ms
        self._sleepers: list[tuple[int, asyncio.Future[None]]] = []

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic_ms(self) -> int:
        return self._now_ms  # it never goes back: `set` refuses

    async def sleep(self, seconds: float) -> None:
        deadline = self._now_ms + int(seconds * 1000)
        if deadline <= self._now_ms:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((deadline, future))
        await future

    def advance(self, seconds: float) -> None:
        self.set(self._now_ms + int(seconds * 1000))

    def set(self, now_ms: int) -> None:
        if now_ms < self._now_ms:
            raise ValueError(f"time cannot go back: {now_ms} < {self._now_ms}")
        self._now_ms = now_ms
        if not self._sleepers:
            return
        due = [(d, f) for d, f in self._sleepers if d <= now_ms]
        self._sleepers = [(d, f) for d, f in self._sleepers if d > now_ms]
        for _, future in due:
            if not future.done():
                future.set_result(None)


class ScaledClock:
    """Simulated time that runs `speed` times faster than real time from `start_ms`."""

    def __init__(self, start_ms: int, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.start_ms = start_ms
        self.speed = speed
        self._real_start_ns = time.monotonic_ns()

    def now_ms(self) -> int:
        elapsed_real_ms = (time.monotonic_ns() - self._real_start_ns) / 1_000_000
        return self.start_ms + int(elapsed_real_ms * self.speed)

    def monotonic_ms(self) -> int:
        return self.now_ms()  # the process's monotonic time, scaled: it never goes back

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

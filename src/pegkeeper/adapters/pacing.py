"""How fast an adapter may ask a venue or broker: request budgets (token buckets) and the wait
a rate-limit answer names in its `Retry-After` header.

A budget counts on the event loop's clock by default, or on pegkeeper's Clock when given one
(so that a simulated clock drives it in tests and in a simulated run).
"""

from __future__ import annotations

import asyncio
import math
import random
from datetime import UTC
from email.utils import parsedate_to_datetime

from pegkeeper.ports import Clock

# A per-minute budget refills over 61 s rather than 60: any 60-second window then holds
# strictly fewer requests than the limit, whatever the rounding of the clock.
REFILL_WINDOW_SECONDS = 61.0
BURST_SHARE = 10  # a per-minute budget lets a tenth of its minute go out at once


class RequestBudget:
    """A token bucket: bursts up to `capacity` requests, `refill_per_second` after; every
    request waits while a rate limit answer's pause lasts. Real time unless a Clock is given."""

    def __init__(
        self,
        capacity: int,
        refill_per_second: float,
        pause_seconds: float,
        rng: random.Random | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        if capacity < 1 or refill_per_second <= 0:
            raise ValueError(
                f"a request budget needs capacity >= 1 and refill_per_second > 0, got "
                f"{capacity} and {refill_per_second}"
            )
        self._capacity = float(capacity)
        self._refill = refill_per_second
        self._pause_seconds = pause_seconds
        self._rng = rng or random.Random()
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp: float | None = None
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0
        self.pauses = 0

    @classmethod
    def per_minute(
        cls, requests_per_minute: int, pause_seconds: float, *, clock: Clock | None = None
    ) -> RequestBudget:
        """A budget that never lets more than `requests_per_minute` out in any 60 seconds: a
        tenth of them at once, the rest spread over the minute."""
        if requests_per_minute < 1:
            raise ValueError(f"requests_per_minute must be at least 1, got {requests_per_minute}")
        capacity = max(1, requests_per_minute // BURST_SHARE)
        refill = max(requests_per_minute - capacity, 1) / REFILL_WINDOW_SECONDS
        return cls(capacity, refill, pause_seconds, clock=clock)

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._now()
                self._top_up(now)
                wait = max(self._paused_until - now, 0.0)
                if wait == 0 and self._tokens >= 1:
                    self._tokens -= 1
                    return
                if wait == 0:
                    wait = (1 - self._tokens) / self._refill
                await self._sleep(wait)

    def pause(self) -> None:
        """After a rate limit answer: nothing goes out for about `pause_seconds` (jittered)."""
        self.pause_for(self._pause_seconds * (0.5 + self._rng.random()))

    def pause_for(self, seconds: float) -> None:
        """After a rate limit answer that named its wait: nothing goes out for `seconds`."""
        self._paused_until = max(self._paused_until, self._now() + max(seconds, 0.0))
        self.pauses += 1

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock.monotonic_ms() / 1000
        return asyncio.get_running_loop().time()

    async def _sleep(self, seconds: float) -> None:
        if self._clock is not None:
            # whole milliseconds, rounded up: a clock counting in ms always moves on
            seconds = math.ceil(seconds * 1000) / 1000
            self.waited_seconds += seconds
            await self._clock.sleep(seconds)
            return
        self.waited_seconds += seconds
        await asyncio.sleep(seconds)

    def _top_up(self, now: float) -> None:
        if self._stamp is not None:
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._refill)
        self._stamp = now


def retry_after_seconds(value: str | None, now_ms: int) -> float | None:
    """The wait a `Retry-After` header names: delay-seconds ("120") or an HTTP date ("Wed, 21
    Oct 2015 07:28:00 GMT", counted from `now_ms`, never below 0). None when the header is
    absent or neither form."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - now_ms / 1000, 0.0)

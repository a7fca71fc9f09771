"""The loop the hedger and the funding manager share: triggers folded into one cycle at a time,
a periodic check, and rechecks after a backoff.

A trigger that arrives during a cycle is folded into the next one; a liability trigger wins
over the others, so that the cycle acts under the liability event's correlation id. A failed
cycle is logged and never ends the loop, but for a lost lease: the service stops there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from pegkeeper.domain.errors import VenueError
from pegkeeper.domain.leases import LeaseLost
from pegkeeper.ports import Clock
from pegkeeper.services.ids import new_correlation_id

log = structlog.get_logger("pegkeeper.trigger_loop")


def backoff_delay_seconds(base_seconds: float, cap_seconds: float, failures: int) -> float:
    """`base_seconds` doubled per failure in a row, never past the cap (nor below the base)."""
    return float(min(base_seconds * 2 ** min(failures, 16), max(cap_seconds, base_seconds)))


@dataclass(frozen=True, slots=True)
class Trigger:
    reason: str  # liability | position | periodic | startup | reconnect | recheck | operator ...
    correlation_id: str


Cycle = Callable[[Trigger], Awaitable[object]]


class TriggerLoop:
    def __init__(self, name: str, clock: Clock, check_interval_seconds: float) -> None:
        self._name = name
        self._clock = clock
        self._check_interval_seconds = check_interval_seconds
        self._wake = asyncio.Event()
        self._pending: Trigger | None = None
        self._background: set[asyncio.Task[None]] = set()

    def trigger(self, reason: str, correlation_id: str | None = None) -> None:
        if self._pending is None or reason == "liability":
            self._pending = Trigger(reason, correlation_id or new_correlation_id())
        self._wake.set()

    def recheck_in(self, delay_seconds: float) -> None:
        """A `recheck` trigger after `delay_seconds` of the clock's time."""

        async def later() -> None:
            await self._clock.sleep(delay_seconds)
            self.trigger("recheck")

        task = asyncio.get_running_loop().create_task(later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def run(
        self,
        cycle: Cycle,
        listeners: list[Coroutine[Any, Any, None]],
        on_failure: Callable[[], None] = lambda: None,
        started: asyncio.Event | None = None,
    ) -> None:
        """Runs `cycle` for each folded trigger, from a `startup` one on, beside `listeners`
        and the periodic check, until cancelled. `on_failure` is told of each failed cycle;
        `started` is set once the listeners are on their way."""
        tasks = [
            asyncio.create_task(listener, name=f"{self._name}-{i}")
            for i, listener in enumerate([*listeners, self._periodic()])
        ]
        try:
            self.trigger("startup")
            if started is not None:
                started.set()
            while True:
                await self._wake.wait()
                self._wake.clear()
                pending, self._pending = self._pending, None
                if pending is None:
                    continue
                try:
                    await cycle(pending)
                except LeaseLost:
                    raise  # the lease keeper stops the service: another process acts now
                except VenueError as error:
                    log.warning(
                        f"{self._name} cycle waits for the venue",
                        trigger=pending.reason,
                        error=str(error),
                    )
                    on_failure()
                except Exception:
                    log.exception(f"{self._name} cycle failed", trigger=pending.reason)
                    on_failure()
        finally:
            for task in [*tasks, *self._background]:
                task.cancel()
            # a listener stuck in an adapter must not keep the service from stopping
            await asyncio.wait(tasks, timeout=5)

    async def _periodic(self) -> None:
        while True:
            await self._clock.sleep(self._check_interval_seconds)
            self.trigger("periodic")

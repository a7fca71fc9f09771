"""What every request that moves money shares, whatever it moves.

The caller has committed the request's row, with its client id, before calling `attempt`; the
answer (or the error) is sorted into an `Outcome`. A request that is not final is looked up
by its client id with `look_up` before anything else is sent: the venue's answer, not yet
(the venue does not know it, inside the lookup window), lost (still unknown after the
window), or failed (the lookup itself did not get an answer: try again later).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from pegkeeper.domain.errors import NotFound, VenueError
from pegkeeper.domain.execution import Outcome, lookup_window_passed, outcome_of
from pegkeeper.domain.leases import LeaseLost, check_still_acting
from pegkeeper.ports import Clock
from pegkeeper.services.pause_points import pause_point

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Attempt(Generic[T]):
    outcome: Outcome
    answer: T | None = None
    error: Exception | None = None


async def attempt(request: Awaitable[T]) -> Attempt[T]:
    """Sends the request (its row already committed) and sorts what came back. A singleton's
    task that may no longer rely on its lease sends nothing: LeaseLost is raised, the row stays
    for the new holder to look up."""
    pause_point("before-request")
    try:
        check_still_acting()
    except LeaseLost:
        if inspect.iscoroutine(request):
            request.close()
        raise
    try:
        answer = await request
    except Exception as error:  # sorted below: anything unforeseen is uncertain
        pause_point("after-request")
        return Attempt(outcome_of(error), error=error)
    pause_point("after-request")
    return Attempt(Outcome.ACCEPTED, answer)


class Found(StrEnum):
    ANSWER = "answer"
    NOT_YET = "not_yet"
    LOST = "lost"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Lookup(Generic[T]):
    found: Found
    answer: T | None = None
    error: str = ""


class Waits:
    """How long each request not final has been waited on, on the clock's monotonic reading:
    from when this process sent it, or for one left by an earlier process from when this one
    first met it. The recorded times of day are not used: a clock that jumps back (a restarted
    demo, a corrected system clock) would hold a request in flight for ever, one that jumps
    forward would declare it lost before the venue could have answered."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._since_ms: dict[str, int] = {}

    def started_ms(self, request_id: str) -> int:
        """The monotonic reading the wait counts from (now, the first time it is asked)."""
        return self._since_ms.setdefault(request_id, self._clock.monotonic_ms())

    def seconds(self, request_id: str) -> float:
        return (self._clock.monotonic_ms() - self.started_ms(request_id)) / 1000

    def window_passed(self, request_id: str, window_seconds: float) -> bool:
        started_ms = self.started_ms(request_id)
        return lookup_window_passed(started_ms, self._clock.monotonic_ms(), window_seconds)

    def forget(self, request_id: str) -> None:
        self._since_ms.pop(request_id, None)


async def look_up(request: Awaitable[T], window_passed: bool) -> Lookup[T]:
    """Looks a request up by its client id (`request` raises NotFound when the venue does not
    know it); one the venue does not know is lost once `window_passed`."""
    try:
        return Lookup(Found.ANSWER, await request)
    except NotFound:
        if window_passed:
            return Lookup(Found.LOST)
        return Lookup(Found.NOT_YET)
    except (VenueError, OSError, TimeoutError) as error:
        return Lookup(Found.FAILED, error=str(error))

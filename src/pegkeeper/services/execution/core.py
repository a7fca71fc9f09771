"""What every request that moves money shares, whatever it moves.

The caller has committed the request's row, with its client id, before calling `attempt`; the
answer (or the error) is sorted into an `Outcome`. A request that is not final is looked up
by its client id with `look_up` before anything else is sent: the venue's answer, not yet
(the venue does not know it, inside the lookup window), lost (still unknown after the
window), or failed (the lookup itself did not get an answer: try again later).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from pegkeeper.domain.errors import NotFound, VenueError
from pegkeeper.domain.execution import Outcome, lookup_window_passed, outcome_of

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Attempt(Generic[T]):
    outcome: Outcome
    answer: T | None = None
    error: Exception | None = None


async def attempt(request: Awaitable[T]) -> Attempt[T]:
    """Sends the request (its row already committed) and sorts what came back."""
    try:
        return Attempt(Outcome.ACCEPTED, await request)
    except Exception as error:  # sorted below: anything unforeseen is uncertain
        return Attempt(outcome_of(error), error=error)


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


async def look_up(
    request: Awaitable[T], created_at_ms: int, now_ms: int, window_seconds: float
) -> Lookup[T]:
    """Looks a request up by its client id (`request` raises NotFound when the venue does not
    know it)."""
    try:
        return Lookup(Found.ANSWER, await request)
    except NotFound:
        if lookup_window_passed(created_at_ms, now_ms, window_seconds):
            return Lookup(Found.LOST)
        return Lookup(Found.NOT_YET)
    except (VenueError, OSError, TimeoutError) as error:
        return Lookup(Found.FAILED, error=str(error))

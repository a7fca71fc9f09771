"""How the answer to a request that moves money is sorted, whatever the request.

Every order, transfer, withdrawal or onchain send ends its request in one of four outcomes.
Only `UNCERTAIN` may have taken effect without pegkeeper knowing: such a request is looked up
by its client id before anything else is sent, and declared lost only once the lookup window
has passed without the venue knowing it.
"""

from __future__ import annotations

from enum import StrEnum

from pegkeeper.domain.errors import OrderRejected, VenueUnavailable


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # the venue answered with the request's state
    REFUSED = "refused"  # refused for good: it had no effect
    NOT_PROCESSED = "not_processed"  # a rate limit or a busy venue: no effect, try later
    UNCERTAIN = "uncertain"  # timeout, 5xx, dropped connection: it may have gone through


def outcome_of(error: BaseException) -> Outcome:
    """The outcome of a request that raised `error` (anything unforeseen is uncertain)."""
    if isinstance(error, OrderRejected):
        return Outcome.REFUSED
    if isinstance(error, VenueUnavailable):
        return Outcome.NOT_PROCESSED
    return Outcome.UNCERTAIN


def lookup_window_passed(created_at_ms: int, now_ms: int, window_seconds: float) -> bool:
    """Whether a request the venue does not know is old enough to be declared lost."""
    return (now_ms - created_at_ms) / 1000 >= window_seconds

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


# How much longer than the latest possible arrival a lookup window is, at least.
LOOKUP_MARGIN_SECONDS = 1.0


def lookup_window_seconds(configured: float, must_exceed: float) -> float:
    """The lookup window to use: the configured one, lengthened when it is not longer than
    `must_exceed`, the latest a request may still take effect after it was sent.

    With several processes a paused holder's request may reach the venue after its lease was
    taken over: an order carries a venue-side expiry (`expTime`), so it is bounded by that
    expiry plus the request timeout; a transfer or withdrawal has none, so by the lease plus
    the request timeout. Declared lost earlier, such a request could still be executed."""
    return max(configured, must_exceed + LOOKUP_MARGIN_SECONDS)


def lookup_window_passed(created_at_ms: int, now_ms: int, window_seconds: float) -> bool:
    """Whether a request the venue does not know is old enough to be declared lost."""
    return (now_ms - created_at_ms) / 1000 >= window_seconds

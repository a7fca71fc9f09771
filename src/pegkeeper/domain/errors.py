"""Errors that carry meaning for the rules above them.

The split between `OrderRejected` and `VenueUncertain` is what keeps an order from being sent
twice: a rejection means nothing happened; an uncertain outcome must be looked up before any
new request is made.
"""

from __future__ import annotations


class InvalidInput(ValueError):
    """Bad input from a user or a caller: names what was wrong and what is expected."""


class ConflictError(Exception):
    """The request is well formed but conflicts with the current state; nothing was changed."""


class VenueError(Exception):
    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(f"{message} (code {code})" if code else message)
        self.code = code


class OrderRejected(VenueError):
    """The venue refused the request definitively; it had no effect."""


class VenueUnavailable(VenueError):
    """The venue did not process the request (rate limit, busy, refused connection)."""


class VenueUncertain(VenueError):
    """The request may or may not have taken effect (timeout, 5xx, dropped connection)."""


class NotFound(VenueError):
    """The venue does not know the thing looked up (an order by client id, say)."""


class VenueMisconfigured(Exception):
    """The venue account is not set up as pegkeeper needs; the message says what to change."""


class RateLimited(VenueUnavailable):
    """A 429: the request was not processed. `retry_after_seconds` is the wait the server
    asked for (None when it named none)."""

    def __init__(
        self, message: str, *, retry_after_seconds: float | None = None, code: str = "429"
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after_seconds = retry_after_seconds


class CredentialsRejected(VenueMisconfigured, VenueUnavailable):
    """The broker or venue refused the credentials (wrong, expired, revoked): the request was
    not processed, and retrying does not help; the message names the broker and what to do
    (set the keys, log in again)."""


class PositionAlreadyClosed(OrderRejected):
    """A close-position found nothing to close: the goal is already reached."""


class SlotTaken(ConflictError):
    """Another writer holds the slot (an instrument leg, or an account's class of funding
    operations), or acted on it since the caller read its inputs: the database refused the
    new order or operation, and no request was sent."""


class BusUnavailable(Exception):
    """The message bus (Redis) could not be reached: nothing was published. The message names
    the bus by its URL, its password left out."""


class ChainError(Exception):
    """The node did not answer as asked (an RPC error, a timeout, not a contract)."""


class ChainIncomplete(ChainError):
    """What the node returned does not cover what was asked (it lags behind the range, a page
    is short, a Clear's AfterClear is missing even from the receipt): read it again later, and
    never move the checkpoint past it."""


class ChainCallReverted(ChainError):
    """The node answered, and the contract refused the call: it reverted, answered nothing
    decodable, or the address holds no contract. Asking again gives the same answer."""


class ChainLagging(ChainIncomplete):
    """The node's head is below a block the read must see (a transaction's block, a pinned
    block): it would answer state from before that transaction. Nothing was read; ask again
    later, or another node."""

    def __init__(self, message: str, *, head_block: int, min_block: int) -> None:
        super().__init__(message)
        self.head_block = head_block
        self.min_block = min_block


class TransactionRefused(ChainError):
    """The node refused a signed transaction (its nonce used by another transaction, a fee too
    low to replace the pending one, funds short of the gas): it was not taken, and sending the
    same bytes again gets the same answer."""

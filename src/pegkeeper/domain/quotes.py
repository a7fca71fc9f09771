"""Quotes of the quote service: priced from the book, stored, accepted once before they expire.

A quote to buy USD (Direction.BUY) is the user giving sats for cents: accepting it raises the
dealer's liability by those cents. A quote to sell USD lowers it by the cents the user sells.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum

from pegkeeper.domain.errors import ConflictError, InvalidInput
from pegkeeper.domain.quote_math import (
    Direction,
    QuoteBook,
    cents_from_sats,
    sats_from_cents,
    walk_sats_to_cents,
)

INT64_MAX = 2**63 - 1  # what the store's BIGINT columns hold
FEE_CENTS_QUANTUM = Decimal("0.000001")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class QuoteState(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"


class QuoteNotFound(LookupError):
    """No quote has this id."""


class QuoteNotAcceptable(ConflictError):
    """Expired or already accepted; nothing was changed."""


@dataclass(frozen=True, slots=True)
class PricedAmounts:
    amount_sats: int
    amount_cents: int
    fee_rate: Decimal
    # The house's margin in cents: how far the quoted cents are from the value of the quoted
    # sats on the walked side of the book, rounding included.
    fee_cents: Decimal


@dataclass(frozen=True, slots=True)
class Quote:
    quote_id: str
    direction: Direction
    immediate_execution: bool
    amount_sats: int
    amount_cents: int
    fee_rate: Decimal
    fee_cents: Decimal
    book_source: str
    book_ts_ms: int
    created_at_ms: int
    expires_at_ms: int
    state: QuoteState = QuoteState.OPEN
    accepted_at_ms: int | None = None

    @property
    def expires_at_s(self) -> int:
        """Whole unix seconds, rounded down: the client never believes in a longer life."""
        return self.expires_at_ms // 1000

    @property
    def liability_delta_cents(self) -> int:
        return self.amount_cents if self.direction is Direction.BUY else -self.amount_cents

    @property
    def executed(self) -> bool:
        return self.state is QuoteState.ACCEPTED

    def check_acceptable(self, now_ms: int) -> None:
        if self.state is QuoteState.ACCEPTED:
            raise QuoteNotAcceptable(f"quote {self.quote_id} was already accepted")
        if now_ms >= self.expires_at_ms:
            raise QuoteNotAcceptable(
                f"quote {self.quote_id} expired at {self.expires_at_s} (unix seconds), "
                f"{(now_ms - self.expires_at_ms) / 1000:.1f} s ago"
            )


def parse_quote_id(value: str) -> str:
    """The canonical (lower-case, hyphenated) UUID; InvalidInput for anything else."""
    if not _UUID.match(value):
        shown = value if len(value) <= 64 else value[:64] + "..."
        raise InvalidInput(f"quote_id must be a UUID like 8-4-4-4-12 hex digits, got {shown!r}")
    return value.lower()


def price_amounts(
    book: QuoteBook,
    direction: Direction,
    fee_rate: Decimal,
    *,
    sats: int | None = None,
    cents: int | None = None,
) -> PricedAmounts:
    """Price a quote from exactly one of `sats` or `cents`, rounding for the house."""
    if (sats is None) == (cents is None):
        raise InvalidInput("a quote needs exactly one amount: in sats or in cents")
    if sats is not None:
        amount_sats, amount_cents = sats, cents_from_sats(book, direction, sats, fee_rate)
    else:
        assert cents is not None
        amount_sats, amount_cents = sats_from_cents(book, direction, cents, fee_rate), cents
    for name, amount in (("sats", amount_sats), ("cents", amount_cents)):
        if amount <= 0:
            raise InvalidInput(
                f"too small to quote: the other side comes to 0 {name}; ask for a larger amount"
            )
        if amount > INT64_MAX:
            raise InvalidInput(f"too large to quote: {amount} {name}")
    fee = _fee_cents(book, direction, amount_sats, amount_cents)
    return PricedAmounts(amount_sats, amount_cents, fee_rate, fee)


def _fee_cents(book: QuoteBook, direction: Direction, sats: int, cents: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 40
        value = walk_sats_to_cents(book.side(direction), Decimal(sats))
        margin = value - cents if direction is Direction.BUY else cents - value
        return margin.quantize(FEE_CENTS_QUANTUM, rounding=ROUND_HALF_EVEN)

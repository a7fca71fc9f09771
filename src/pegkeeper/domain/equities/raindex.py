"""Reading a Raindex fill (specs/equities.md, "Reading a fill"): the maker's side of a
TakeOrder or a Clear, its direction, amounts in exact decimals and the price, for both
generations of events. Every event becomes an OnchainFill or a SkippedLog with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.equities.assets import EquityUniverse
from pegkeeper.domain.equities.chain import (
    Generation,
    OnchainFill,
    RaindexEvent,
    SkippedLog,
    TokenInfo,
)


def decode_float(word: int) -> Decimal:
    """A rain.math.float word (bytes32 as an unsigned integer): the high 32 bits a signed
    exponent, the low 224 bits a signed coefficient; value = coefficient * 10^exponent, exact."""
    raise NotImplementedError


def truncate_to(amount: Decimal, decimals: int) -> Decimal:
    """`amount` truncated toward zero to `decimals` places (never rounded up)."""
    raise NotImplementedError


@dataclass(frozen=True, slots=True)
class MakerTrade:
    """The configured owner's side of one event: what its order received and gave, raw."""

    generation: Generation
    input_token: str  # what the maker received
    input_raw: int
    input_decimals: int | None  # V4: from the IO
    output_token: str  # what the maker gave
    output_raw: int
    output_decimals: int | None


def maker_trade(event: RaindexEvent, owner: str) -> MakerTrade | None:
    """The owner's side (alice if both sides are the owner's), with TakeOrder's amounts turned
    from the taker's perspective into the order's; None when no side is the owner's."""
    raise NotImplementedError


def classify(
    event: RaindexEvent,
    universe: EquityUniverse,
    tokens: Mapping[str, TokenInfo],
    shares_per_token: Mapping[str, Decimal],
) -> OnchainFill | SkippedLog:
    """The fill this event is for the configured owner, or the reason it is skipped.
    `tokens` has the TokenInfo of the trade's tokens (needed for V5 decimals; a missing one is
    TOKEN_UNREADABLE), `shares_per_token` the ratio of a wrapped stock token at the event's
    block. Stock amounts: V4 scaled by the IO's decimals, V5 decoded Floats; both truncated to
    the token's decimals (18 for stock tokens), USDC floored to 6 dp, wrapped amounts converted
    to underlying shares (truncated to 18 dp)."""
    raise NotImplementedError

"""Quote math of the price service (specs/price-service.md): walk the book, apply fees, round for
the house.

"Buy" and "Sell" name what the user does with USD. In a Buy the user buys cents with sats: the
dealer takes BTC it must sell, so a Buy walks the bids; a Sell walks the asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum

from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.units import CENTS_PER_USD, SATS_PER_BTC, ceil_int, floor_int

UINT64_MAX = 2**64 - 1
CONTRACT_CENTS = Decimal(10_000)  # one BTC-USD-SWAP contract is 100 USD
_PRECISION = 40  # digits for the walk: far beyond the 12 decimal places the spec asks for


class Direction(StrEnum):
    BUY = "buy"  # the user buys USD: walk the bids
    SELL = "sell"  # the user sells USD: walk the asks


@dataclass(frozen=True, slots=True)
class FeeRates:
    base_fee_rate: Decimal = Decimal("0.0005")
    immediate_fee_rate: Decimal = Decimal("0.0005")
    delayed_fee_rate: Decimal = Decimal("0.0007")

    def __post_init__(self) -> None:
        for name in ("base_fee_rate", "immediate_fee_rate", "delayed_fee_rate"):
            rate = getattr(self, name)
            if not Decimal(0) <= rate < Decimal("0.5"):
                raise InvalidInput(f"{name} must be in [0, 0.5), got {rate}")

    def rate(self, immediate: bool) -> Decimal:
        extra = self.immediate_fee_rate if immediate else self.delayed_fee_rate
        return self.base_fee_rate + extra


@dataclass(frozen=True, slots=True)
class Level:
    cents_per_sat: Decimal
    volume_cents: Decimal


@dataclass(frozen=True, slots=True)
class QuoteBook:
    """A BTC-USD book as the quote math sees it: levels best first, in cents per sat."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts_ms: int
    source: str

    @classmethod
    def from_contracts(
        cls,
        bids: Sequence[tuple[Decimal, Decimal]],
        asks: Sequence[tuple[Decimal, Decimal]],
        ts_ms: int,
        source: str,
    ) -> QuoteBook:
        """Levels as (price in USD per BTC, size in 100-USD contracts), best first."""
        return cls(_levels(bids), _levels(asks), ts_ms, source)

    def side(self, direction: Direction) -> tuple[Level, ...]:
        return self.bids if direction is Direction.BUY else self.asks


def _levels(levels: Sequence[tuple[Decimal, Decimal]]) -> tuple[Level, ...]:
    out = []
    for price_usd, size_contracts in levels:
        if price_usd <= 0 or size_contracts < 0:
            raise InvalidInput(f"a book level needs a positive price, got {price_usd}")
        out.append(Level(price_usd * CENTS_PER_USD / SATS_PER_BTC, size_contracts * CONTRACT_CENTS))
    return tuple(out)


def walk_sats_to_cents(levels: Sequence[Level], sats: Decimal) -> Decimal:
    """Cents for `sats`, level by level; beyond the book, the rest at the last level's price."""
    _need_levels(levels)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        cents = Decimal(0)
        remaining = sats
        for level in levels:
            capacity_sats = level.volume_cents / level.cents_per_sat
            used = min(remaining, capacity_sats)
            cents += used * level.cents_per_sat
            remaining -= used
            if remaining <= 0:
                return cents
        return cents + remaining * levels[-1].cents_per_sat


def walk_cents_to_sats(levels: Sequence[Level], cents: Decimal) -> Decimal:
    """Sats for `cents`, level by level; beyond the book, the rest at the last level's price."""
    _need_levels(levels)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        sats = Decimal(0)
        remaining = cents
        for level in levels:
            used = min(remaining, level.volume_cents)
            sats += used / level.cents_per_sat
            remaining -= used
            if remaining <= 0:
                return sats
        return sats + remaining / levels[-1].cents_per_sat


def _need_levels(levels: Sequence[Level]) -> None:
    if not levels:
        raise InvalidInput("the book has no levels on the side this quote walks")


def cents_from_sats(book: QuoteBook, direction: Direction, sats: int, fee_rate: Decimal) -> int:
    """Buy: floor(walk_bids(sats) * (1 - rate)); Sell: ceil(walk_asks(sats) * (1 + rate))."""
    _check_amount(sats, "amount_in_satoshis")
    gross = walk_sats_to_cents(book.side(direction), Decimal(sats))
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if direction is Direction.BUY:
            result = floor_int(gross * (1 - fee_rate))
        else:
            result = ceil_int(gross * (1 + fee_rate))
    return _check_result(result, "amount_in_cents")


def sats_from_cents(book: QuoteBook, direction: Direction, cents: int, fee_rate: Decimal) -> int:
    """Buy: ceil(walk_bids(cents) * (1 + rate)); Sell: floor(walk_asks(cents) * (1 - rate))."""
    _check_amount(cents, "amount_in_cents")
    gross = walk_cents_to_sats(book.side(direction), Decimal(cents))
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if direction is Direction.BUY:
            result = ceil_int(gross * (1 + fee_rate))
        else:
            result = floor_int(gross * (1 - fee_rate))
    return _check_result(result, "amount_in_satoshis")


def mid_rate_cents_per_sat(book: QuoteBook) -> Decimal:
    if not book.bids or not book.asks:
        raise InvalidInput("the mid rate needs both a bid and an ask")
    return (book.bids[0].cents_per_sat + book.asks[0].cents_per_sat) / 2


def _check_amount(amount: int, name: str) -> None:
    if amount <= 0:
        raise InvalidInput(f"{name} must be a positive whole number, got {amount}")
    if amount > UINT64_MAX:
        raise InvalidInput(f"{name} {amount} does not fit in uint64")


def _check_result(result: int, name: str) -> int:
    if result > UINT64_MAX:
        raise InvalidInput(f"the resulting {name} ({result}) would overflow uint64")
    return max(result, 0)

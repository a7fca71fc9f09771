"""Position arithmetic of inverse contracts (USD face value, settled in BTC).

Average prices are harmonic: a position's value in BTC is contracts * face / price, so the
average that keeps that value is total contracts over the sum of contracts / price. Averages
are kept to 1e-8 USD so that a single price stays exactly itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from pegkeeper.sim.book import BookLevel

ZERO = Decimal(0)
PRICE_QUANTUM_USD = Decimal("0.00000001")


def round_price_half_even_usd(price_usd: Decimal) -> Decimal:
    return price_usd.quantize(PRICE_QUANTUM_USD, rounding=ROUND_HALF_EVEN)


def harmonic_average_price_usd(levels: Iterable[BookLevel]) -> Decimal:
    total_contracts = ZERO
    inverse_sum = ZERO
    for level in levels:
        total_contracts += level.size_contracts
        inverse_sum += level.size_contracts / level.price_usd
    return round_price_half_even_usd(total_contracts / inverse_sum)


@dataclass(frozen=True, slots=True)
class FillOutcome:
    size_contracts: Decimal  # signed position after the fill
    avg_price_usd: Decimal | None  # None when flat
    realised_pnl_btc: Decimal  # unrounded


def apply_fill(
    size_contracts: Decimal,
    avg_price_usd: Decimal | None,
    signed_fill_contracts: Decimal,
    fill_price_usd: Decimal,
    face_value_usd: Decimal,
) -> FillOutcome:
    """The position after a fill of `signed_fill_contracts` (a sell is negative).

    Increasing: harmonic average of the old and new parts. Reducing: the average stays and the
    closed part realises q * face * (1/avg - 1/fill), with the sign of the old position.
    A flip closes the old position and opens the rest at the fill price.
    """
    new_size = size_contracts + signed_fill_contracts
    if size_contracts == 0 or avg_price_usd is None:
        return FillOutcome(new_size, fill_price_usd, ZERO)
    if (size_contracts > 0) == (signed_fill_contracts > 0):
        inverse_sum = abs(size_contracts) / avg_price_usd + abs(signed_fill_contracts) / (
            fill_price_usd
        )
        new_avg = round_price_half_even_usd(abs(new_size) / inverse_sum)
        return FillOutcome(new_size, new_avg, ZERO)
    closed = min(abs(signed_fill_contracts), abs(size_contracts))
    direction = 1 if size_contracts > 0 else -1
    realised = direction * closed * face_value_usd * (1 / avg_price_usd - 1 / fill_price_usd)
    if new_size == 0:
        return FillOutcome(new_size, None, realised)
    if (new_size > 0) == (size_contracts > 0):
        return FillOutcome(new_size, avg_price_usd, realised)
    return FillOutcome(new_size, fill_price_usd, realised)

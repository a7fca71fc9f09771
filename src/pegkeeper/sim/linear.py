"""Position arithmetic of linear contracts (a face value in BTC, settled in the quote currency).

Averages are arithmetic, weighted by size, kept to 1e-8 USD like the inverse ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pegkeeper.sim.book import BookLevel
from pegkeeper.sim.inverse import FillOutcome, round_price_half_even_usd

ZERO = Decimal(0)


def arithmetic_average_price_usd(levels: Iterable[BookLevel]) -> Decimal:
    total_contracts = ZERO
    total_value = ZERO
    for level in levels:
        total_contracts += level.size_contracts
        total_value += level.size_contracts * level.price_usd
    return round_price_half_even_usd(total_value / total_contracts)


def apply_linear_fill(
    size_contracts: Decimal,
    avg_price_usd: Decimal | None,
    signed_fill_contracts: Decimal,
    fill_price_usd: Decimal,
    face_value_btc: Decimal,
) -> FillOutcome:
    """As `inverse.apply_fill`, with a closed part realising q * face * (fill - avg) for a long."""
    new_size = size_contracts + signed_fill_contracts
    if size_contracts == 0 or avg_price_usd is None:
        return FillOutcome(new_size, fill_price_usd, ZERO)
    if (size_contracts > 0) == (signed_fill_contracts > 0):
        value = abs(size_contracts) * avg_price_usd + abs(signed_fill_contracts) * fill_price_usd
        new_avg = round_price_half_even_usd(value / abs(new_size))
        return FillOutcome(new_size, new_avg, ZERO)
    closed = min(abs(signed_fill_contracts), abs(size_contracts))
    direction = 1 if size_contracts > 0 else -1
    realised = direction * closed * face_value_btc * (fill_price_usd - avg_price_usd)
    if new_size == 0:
        return FillOutcome(new_size, None, realised)
    if (new_size > 0) == (size_contracts > 0):
        return FillOutcome(new_size, avg_price_usd, realised)
    return FillOutcome(new_size, fill_price_usd, realised)

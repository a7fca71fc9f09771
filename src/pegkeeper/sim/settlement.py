"""What the simulated exchange settles on its own: funding at the 8-hourly boundaries, the
delivery of a dated future at its expiry, and liquidation. Each function updates the market
and returns what the accounts must book; amounts are whole 1e-8 units."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from pegkeeper.domain.units import round_1e8
from pegkeeper.sim.events import Delivery, FundingPayment, Liquidation
from pegkeeper.sim.market import Market

ZERO = Decimal(0)
FUNDING_INTERVAL_MS = 8 * 3600 * 1000  # boundaries at 00:00, 08:00, 16:00 UTC


def settle_funding(market: Market, now_ms: int, new_price_usd: Decimal) -> list[FundingPayment]:
    """Every boundary in (last price time, now]; each at the price in force at that time, its
    rate kept in the market's history. A positive rate: longs pay shorts."""
    boundary_ms = market.next_funding_ms
    assert boundary_ms is not None
    payments = []
    while boundary_ms <= now_ms:
        market.settled_rates.append((boundary_ms, market.funding_rate))
        mark = new_price_usd if boundary_ms == now_ms else market.mark()
        size = market.size_contracts
        if size != 0:
            signed_value = market.value(size, mark) * (1 if size > 0 else -1)
            amount = round_1e8(-signed_value * market.funding_rate)
            payments.append(
                FundingPayment(
                    boundary_ms,
                    market.instrument_id,
                    market.funding_rate,
                    size,
                    mark,
                    amount,
                    market.settle_currency,
                )
            )
        boundary_ms += FUNDING_INTERVAL_MS
    market.next_funding_ms = boundary_ms
    return payments


def deliver(market: Market, now_ms: int, price_usd: Decimal) -> Delivery:
    """A dated future at its expiry: the position closed at the price in force then, without
    fee, and the market closed for good."""
    expiry_ms = market.instrument.expiry_ms
    assert expiry_ms is not None
    size = market.size_contracts
    realised = round_1e8(market.apply_fill(-size, price_usd)) if size != 0 else ZERO
    market.mark_price_usd, market.price_ms, market.book = price_usd, now_ms, None
    market.delivered_ms = expiry_ms
    return Delivery(expiry_ms, market.instrument_id, size, price_usd, realised)


def liquidate(market: Market) -> tuple[Decimal, Callable[[int, Decimal, Decimal], Liquidation]]:
    """Closes the whole position at the liquidation price; returns the realised P&L and how
    to record it once the accounts have booked it (with the shortfall they absorbed)."""
    size, liquidation_price_usd = market.size_contracts, market.liquidation_price_usd
    assert liquidation_price_usd is not None
    realised = round_1e8(market.unrealised_pnl(liquidation_price_usd))
    market.size_contracts = ZERO
    market.avg_price_usd = None

    def record(now_ms: int, mark_price_usd: Decimal, shortfall: Decimal) -> Liquidation:
        return Liquidation(
            now_ms,
            market.instrument_id,
            size,
            liquidation_price_usd,
            mark_price_usd,
            realised,
            shortfall,
        )

    return realised, record

"""Margin, leverage and liquidation of inverse contracts (BTC-margined, USD face value) and of
linear ones (a face value in BTC, margined in USDT)."""

from __future__ import annotations

from decimal import Decimal


def inverse_notional_btc(
    size_contracts: Decimal, face_value_usd: Decimal, price_usd: Decimal
) -> Decimal:
    return abs(size_contracts) * face_value_usd / price_usd


def inverse_unrealised_pnl_btc(
    size_contracts: Decimal,
    face_value_usd: Decimal,
    avg_price_usd: Decimal,
    mark_price_usd: Decimal,
) -> Decimal:
    """Signed size: a short (negative) gains when the mark falls below the average price."""
    if size_contracts == 0:
        return Decimal(0)
    return size_contracts * face_value_usd * (1 / avg_price_usd - 1 / mark_price_usd)


def inverse_liquidation_price_usd(
    size_contracts: Decimal,
    face_value_usd: Decimal,
    avg_price_usd: Decimal,
    balance_btc: Decimal,
    maintenance_margin_rate: Decimal,
) -> Decimal | None:
    """Price at which equity falls to the maintenance margin; None when it never does.

    Short (spec): LiqPx = FV*N*(1-MMR)*OPx / (FV*N - OPx*B).
    Long: equity B + N*FV*(1/OPx - 1/P) = MMR*N*FV/P gives
    LiqPx = FV*N*(1+MMR)*OPx / (OPx*B + FV*N).
    """
    if size_contracts == 0:
        return None
    face = abs(size_contracts) * face_value_usd
    if size_contracts < 0:
        denominator = face - avg_price_usd * balance_btc
        if denominator <= 0:
            return None
        return face * (1 - maintenance_margin_rate) * avg_price_usd / denominator
    return (
        face * (1 + maintenance_margin_rate) * avg_price_usd / (avg_price_usd * balance_btc + face)
    )


def linear_unrealised_pnl_quote(
    size_contracts: Decimal,
    face_value_btc: Decimal,
    avg_price_usd: Decimal,
    mark_price_usd: Decimal,
) -> Decimal:
    """In the quote (settlement) currency; a short gains when the mark falls."""
    return size_contracts * face_value_btc * (mark_price_usd - avg_price_usd)


def linear_liquidation_price_usd(
    size_contracts: Decimal,
    face_value_btc: Decimal,
    avg_price_usd: Decimal,
    balance_quote: Decimal,
    maintenance_margin_rate: Decimal,
) -> Decimal | None:
    """Price at which equity falls to the maintenance margin; None when it never does.

    With s = size * face (signed BTC): B + s*(P - OPx) = MMR*|s|*P gives
    LiqPx = (s*OPx - B) / (s - MMR*|s|).
    """
    if size_contracts == 0:
        return None
    signed_btc = size_contracts * face_value_btc
    price = (signed_btc * avg_price_usd - balance_quote) / (
        signed_btc - maintenance_margin_rate * abs(signed_btc)
    )
    return price if price > 0 else None


def leverage(notional_btc: Decimal, equity_btc: Decimal) -> Decimal | None:
    """Position notional at the mark over equity; None when there is no equity."""
    if equity_btc <= 0:
        return None
    return notional_btc / equity_btc


def liquidation_distance_pct(
    mark_price_usd: Decimal, liquidation_price_usd: Decimal | None
) -> Decimal | None:
    """How far the price must move to liquidate, in % of the mark price."""
    if liquidation_price_usd is None:
        return None
    return abs(liquidation_price_usd - mark_price_usd) / mark_price_usd * 100

"""When a symbol's open exposure is big enough to hedge, and by how much (specs/equities.md,
"Accumulation")."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal

from pegkeeper.domain.equities.broker import BrokerKind
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide

FRACTIONAL_DECIMALS = 9  # Alpaca takes quantities of up to 9 decimals
_ONE_FRACTIONAL_STEP = Decimal(1).scaleb(-FRACTIONAL_DECIMALS)


@dataclass(frozen=True, slots=True)
class HedgeSize:
    side: OrderSide
    quantity: Decimal  # > 0, at the broker's precision (truncated)


@dataclass(frozen=True, slots=True)
class Wait:
    reason: str  # why no order now, for the operator ("below 2 USD", "no price yet", ...)


def hedge_size(
    exposure: Decimal,
    kind: BrokerKind,
    *,
    last_price_usd: Decimal | None,
    min_notional_usd: Decimal,
) -> HedgeSize | Wait:
    """The order that brings `exposure` (shares, long positive) toward zero, or why none yet.
    Whole-share brokers: floor(|exposure|) once it is at least 1. Fractional brokers: |exposure|
    truncated to 9 dp once its value at the last onchain price reaches `min_notional_usd`; a
    quantity that truncates to 0 waits. Long exposure sells, short exposure buys."""
    if min_notional_usd < 0:
        raise InvalidInput(f"min_notional_usd must be 0 or more, not {min_notional_usd}")
    if exposure == 0:
        return Wait("no open exposure")
    side = OrderSide.SELL if exposure > 0 else OrderSide.BUY
    shares = abs(exposure)
    if kind is BrokerKind.WHOLE_SHARES:
        return _whole_shares(side, shares)
    return _fractional(side, shares, last_price_usd, min_notional_usd)


def _whole_shares(side: OrderSide, shares: Decimal) -> HedgeSize | Wait:
    whole = shares.to_integral_value(rounding=ROUND_FLOOR)  # floor: never more than is open
    if whole < 1:
        return Wait(f"{shares} shares is below 1 whole share")
    return HedgeSize(side, whole)


def _fractional(
    side: OrderSide,
    shares: Decimal,
    last_price_usd: Decimal | None,
    min_notional_usd: Decimal,
) -> HedgeSize | Wait:
    quantity = shares.quantize(_ONE_FRACTIONAL_STEP, rounding=ROUND_DOWN)  # truncate
    if quantity == 0:
        return Wait(f"{shares} shares truncates to 0 at {FRACTIONAL_DECIMALS} decimals")
    if last_price_usd is None or last_price_usd <= 0:
        return Wait("no onchain price yet to value the order")
    notional_usd = quantity * last_price_usd
    if notional_usd < min_notional_usd:
        return Wait(
            f"{plain(quantity)} shares at {plain(last_price_usd)} USD is "
            f"{plain(notional_usd)} USD, below the {plain(min_notional_usd)} USD minimum"
        )
    return HedgeSize(side, quantity)


def plain(amount: Decimal) -> str:
    """For messages: no trailing zeros, no exponent."""
    return f"{amount.normalize():f}"

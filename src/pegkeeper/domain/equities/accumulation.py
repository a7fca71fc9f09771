"""When a symbol's open exposure is big enough to hedge, and by how much (specs/equities.md,
"Accumulation")."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.equities.broker import BrokerKind
from pegkeeper.domain.orders import OrderSide


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
    raise NotImplementedError

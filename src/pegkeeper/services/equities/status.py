"""What the equity hedger shows of each symbol: its books, the order in flight, the exposure
left with its age and value, and why no order goes out now."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.equities.ledger import BrokerOrderRecord, SymbolExposure

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SymbolStatus:
    """One symbol as the hedger sees it, for the API and the dashboard."""

    symbol: str
    onchain_net: Decimal  # shares the maker holds from onchain fills (long positive)
    broker_net: Decimal  # shares its broker fills hold
    exposure: Decimal  # onchain_net + broker_net: what is left to hedge
    pending: Decimal  # signed shares of the order in flight not filled yet
    in_flight: BrokerOrderRecord | None
    waiting: str  # why no order now: the domain's reason, paused, the broker; "" otherwise
    paused: bool
    exposure_age_seconds: float | None  # since the oldest onchain fill not covered
    last_price_usd: Decimal | None  # the last onchain fill's price
    unhedged_usd: Decimal | None  # |exposure| at the last price
    last_error: str  # the last failed order's reason, until an order goes through


def symbol_status(
    exposure: SymbolExposure,
    *,
    now_ms: int,
    price_usd: Decimal | None,
    paused: bool,
    waiting: str,
    last_error: str,
) -> SymbolStatus:
    order = exposure.in_flight
    pending = ZERO
    if order is not None:
        left = max(order.intent.quantity - order.filled_quantity, ZERO)
        pending = left if order.intent.signed_quantity > 0 else -left
    age = None
    if exposure.exposure != 0 and exposure.oldest_open_ms is not None:
        age = max(now_ms - exposure.oldest_open_ms, 0) / 1000
    return SymbolStatus(
        symbol=exposure.symbol,
        onchain_net=exposure.onchain_net,
        broker_net=exposure.broker_net,
        exposure=exposure.exposure,
        pending=pending,
        in_flight=order,
        waiting=waiting,
        paused=paused,
        exposure_age_seconds=age,
        last_price_usd=price_usd,
        unhedged_usd=abs(exposure.exposure) * price_usd if price_usd is not None else None,
        last_error=last_error,
    )


def shown(amount: Decimal | None) -> str:
    """An amount without its trailing zeros (fills carry 18 places), for people."""
    if amount is None:
        return "?"
    return f"{amount.normalize():f}"


def flat(symbol: str) -> SymbolExposure:
    """A symbol with nothing yet."""
    return SymbolExposure(symbol, ZERO, ZERO, None, None, None)

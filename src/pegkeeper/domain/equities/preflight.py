"""Whether the broker account can take a hedge before it is sent (specs/equities.md,
"Accumulation"): no margin and no shorting. A sell needs the shares not reserved by open orders;
a buy needs `cash` (never buying power, which counts margin or leaves out unsettled proceeds)
for its estimated cost. A blocked hedge keeps its exposure; the reason names the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from pegkeeper.domain.equities.accumulation import plain
from pegkeeper.domain.equities.broker import BrokerAccount, BrokerPosition
from pegkeeper.domain.equities.session_orders import check_bps, check_positive
from pegkeeper.domain.orders import OrderSide
from pegkeeper.domain.units import BPS_PER_ONE, ONE_CENT_USD

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PreflightResult:
    ok: bool
    reason: str = ""  # why the hedge is blocked, with the numbers; "" when it may go


PASSED = PreflightResult(ok=True)


def blocked(reason: str) -> PreflightResult:
    return PreflightResult(ok=False, reason=reason)


def preflight(
    symbol: str,
    side: OrderSide,
    quantity: Decimal,
    price_usd: Decimal,
    account: BrokerAccount,
    position: BrokerPosition | None,
    slippage_bps: Decimal,
    *,
    limit_price_usd: Decimal | None = None,
    extended_hours: bool = False,
) -> PreflightResult:
    """May `account` take the hedge `side quantity symbol` now? `price_usd` is the reference
    a market buy is estimated at, `slippage_bps` the margin above it; a limit buy
    (`limit_price_usd`) costs at most quantity x limit, with no margin on top. `position` is
    the broker's position in `symbol` (None: none held); `extended_hours`: the order is for
    the extended sessions."""
    _check(quantity, price_usd, slippage_bps, limit_price_usd)
    order = f"{side.value} {plain(quantity)} {symbol}"
    refused = _refused_by_account(order, quantity, account, extended_hours=extended_hours)
    if refused is not None:
        return refused
    if side is OrderSide.SELL:
        return _sell(order, symbol, quantity, position)
    if limit_price_usd is not None:
        cost_usd = _cents_up(quantity * limit_price_usd)
        basis = f"at the {usd(limit_price_usd)} limit"
    else:
        cost_usd = _cents_up(quantity * price_usd * (1 + slippage_bps / BPS_PER_ONE))
        basis = f"with {plain(slippage_bps)} bps"
    if account.cash_usd < cost_usd:
        return blocked(f"{order}: needs {usd(cost_usd)} {basis}, cash {usd(account.cash_usd)}")
    return PASSED


def _refused_by_account(
    order: str, quantity: Decimal, account: BrokerAccount, *, extended_hours: bool
) -> PreflightResult | None:
    if not account.can_trade:
        status = account.status or "no status given"
        return blocked(f"{order}: the {account.broker} account cannot trade ({status})")
    if not account.fractional and quantity != quantity.to_integral_value():
        return blocked(f"{order}: the {account.broker} account takes whole shares only")
    if extended_hours and not account.extended_hours:
        return blocked(
            f"{order}: the {account.broker} account may not trade in the extended sessions"
        )
    return None


def _sell(
    order: str, symbol: str, quantity: Decimal, position: BrokerPosition | None
) -> PreflightResult:
    if position is None or position.quantity <= 0:
        return blocked(f"{order}: no {symbol} shares at the broker (no shorting)")
    available = max(position.available, ZERO)
    if quantity <= available:
        return PASSED
    reserved = position.quantity - available
    if reserved > 0:
        return blocked(
            f"{order}: {plain(available)} available at the broker "
            f"({plain(reserved)} reserved by open orders)"
        )
    return blocked(f"{order}: {plain(available)} held at the broker (no shorting)")


def _check(
    quantity: Decimal,
    price_usd: Decimal,
    slippage_bps: Decimal,
    limit_price_usd: Decimal | None,
) -> None:
    check_positive("quantity", quantity, "number of shares")
    check_positive("price_usd", price_usd, "USD amount")
    check_bps("slippage_bps", slippage_bps)
    if limit_price_usd is not None:
        check_positive("limit_price_usd", limit_price_usd, "USD amount")


def _cents_up(amount_usd: Decimal) -> Decimal:
    """An estimated cost in whole cents, rounded up: never less cash than the order needs."""
    return amount_usd.quantize(ONE_CENT_USD, rounding=ROUND_CEILING)


def usd(amount_usd: Decimal) -> str:
    """For messages: two decimals, thousands apart ("1 905.00 USD")."""
    return f"{amount_usd:,.2f}".replace(",", " ") + " USD"

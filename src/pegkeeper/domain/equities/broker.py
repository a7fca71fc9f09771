"""Broker orders as pegkeeper keeps them, in a model that fits Alpaca (client order ids,
fractional quantities, 9 dp) and Schwab (no client id: looked up among recent orders; whole
shares), and the dry-run broker."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pegkeeper.domain.orders import OrderSide


class BrokerKind(StrEnum):
    """How a broker sizes orders, which sets the accumulation threshold."""

    FRACTIONAL = "fractional"  # Alpaca, dry-run: 9 dp quantities, a dollar minimum
    WHOLE_SHARES = "whole_shares"  # Schwab: floor(|net|) shares


class BrokerOrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"  # extended hours only


class BrokerOrderState(StrEnum):
    CREATED = "created"  # stored, not yet known to have been sent
    WORKING = "working"  # accepted, possibly partially filled
    FILLED = "filled"
    CANCELED = "canceled"  # may carry a partial fill
    FAILED = "failed"  # rejected, expired, done for day: may carry a partial fill
    UNKNOWN = "unknown"  # the request's outcome is uncertain: look it up first
    LOST = "lost"  # not found at the broker after the lookup window

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        BrokerOrderState.FILLED,
        BrokerOrderState.CANCELED,
        BrokerOrderState.FAILED,
        BrokerOrderState.LOST,
    }
)


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    """What the broker says of the account pegkeeper hedges in, and what it may do there."""

    broker: str  # the broker's name ("alpaca-trading", "schwab", ...)
    account_id: str  # shown masked (`masked_account`)
    cash_usd: Decimal  # what a buy may spend (spec: `cash`, not non-marginable buying power)
    buying_power_usd: Decimal
    can_trade: bool  # the account is active and not blocked from trading
    fractional: bool  # fractional quantities allowed
    extended_hours: bool  # orders in the extended sessions allowed
    status: str = ""  # the broker's own word for the account's state


def masked_account(account_id: str) -> str:
    """An account id as logs and screens show it: its last 4 characters."""
    return f"...{account_id[-4:]}" if len(account_id) > 4 else "..."


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    symbol: str
    quantity: Decimal  # shares held, long positive
    available: Decimal  # not reserved by open orders: what a sell may use


@dataclass(frozen=True, slots=True)
class BrokerOrderIntent:
    client_order_id: str  # chosen and stored before the request; sent where the broker takes it
    symbol: str
    side: OrderSide
    quantity: Decimal  # shares, > 0, at the broker's precision
    created_at_ms: int
    order_type: BrokerOrderType = BrokerOrderType.MARKET
    limit_price_usd: Decimal | None = None
    extended_hours: bool = False
    correlation_id: str = ""

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side is OrderSide.BUY else -self.quantity


@dataclass(frozen=True, slots=True)
class BrokerFill:
    """One execution at the broker. `fill_id` is unique within its order."""

    fill_id: str
    quantity: Decimal  # > 0
    price_usd: Decimal
    ts_ms: int
    fee_usd: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class BrokerOrderReport:
    """What the broker says of an order now: its state and every fill so far (cumulative)."""

    client_order_id: str
    state: BrokerOrderState
    broker_order_id: str = ""
    fills: tuple[BrokerFill, ...] = ()
    message: str = ""

    @property
    def filled_quantity(self) -> Decimal:
        return sum((f.quantity for f in self.fills), Decimal(0))

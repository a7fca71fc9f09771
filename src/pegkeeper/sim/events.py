"""What the simulated exchange records: transfers, funding payments, liquidations, deliveries,
deposits and withdrawals, totals."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pegkeeper.domain.orders import OrderState


class AccountType(StrEnum):
    FUNDING = "funding"
    TRADING = "trading"


class ChangeReason(StrEnum):
    FILL = "fill"
    LIQUIDATION = "liquidation"
    DELIVERY = "delivery"  # a dated future expired and was settled


@dataclass(frozen=True, slots=True)
class TransferResult:
    client_id: str
    transfer_id: str
    amount_btc: Decimal  # in `currency` (BTC unless told otherwise)
    from_account: AccountType
    to_account: AccountType
    ts_ms: int
    currency: str = "BTC"


@dataclass(frozen=True, slots=True)
class FundingPayment:
    ts_ms: int  # the funding boundary (00:00, 08:00, 16:00 UTC)
    instrument_id: str
    rate: Decimal
    size_contracts: Decimal
    mark_price_usd: Decimal
    amount_btc: Decimal  # received by the account, in `currency`; negative when paid
    currency: str = "BTC"


@dataclass(frozen=True, slots=True)
class Liquidation:
    ts_ms: int
    instrument_id: str
    size_contracts: Decimal  # the signed position that was closed
    price_usd: Decimal  # the liquidation price it was closed at
    mark_price_usd: Decimal  # the price update that crossed it
    realised_pnl_btc: Decimal  # in the instrument's settlement currency
    shortfall_btc: Decimal  # loss beyond the cash balance, absorbed by the venue


@dataclass(frozen=True, slots=True)
class Delivery:
    ts_ms: int  # the expiry
    instrument_id: str
    size_contracts: Decimal  # the signed position that was settled
    price_usd: Decimal  # the settlement price
    realised_pnl: Decimal  # in the settlement currency


@dataclass(frozen=True, slots=True)
class PositionChanged:
    instrument_id: str
    reason: ChangeReason
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderChanged:
    client_order_id: str
    instrument_id: str
    state: OrderState
    ts_ms: int


@dataclass(frozen=True, slots=True)
class EngineTotals:
    """Running sums of every movement of one currency's trading account.

    trading cash = net inflow + realised P&L - fees + funding + liquidation shortfall, exactly:
    every amount is a whole number of 1e-8 units.
    """

    currency: str
    net_inflow_to_trading: Decimal  # credits and transfers in, less transfers out
    realised_pnl: Decimal
    fees_paid: Decimal
    funding_received: Decimal
    liquidation_shortfall: Decimal

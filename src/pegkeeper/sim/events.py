"""What the simulated exchange records: transfers, funding payments, liquidations, totals."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class AccountType(StrEnum):
    FUNDING = "funding"
    TRADING = "trading"


class ChangeReason(StrEnum):
    FILL = "fill"
    LIQUIDATION = "liquidation"


@dataclass(frozen=True, slots=True)
class TransferResult:
    client_id: str
    transfer_id: str
    amount_btc: Decimal
    from_account: AccountType
    to_account: AccountType
    ts_ms: int


@dataclass(frozen=True, slots=True)
class FundingPayment:
    ts_ms: int  # the funding boundary (00:00, 08:00, 16:00 UTC)
    instrument_id: str
    rate: Decimal
    size_contracts: Decimal
    mark_price_usd: Decimal
    amount_btc: Decimal  # received by the account; negative when paid


@dataclass(frozen=True, slots=True)
class Liquidation:
    ts_ms: int
    instrument_id: str
    size_contracts: Decimal  # the signed position that was closed
    price_usd: Decimal  # the liquidation price it was closed at
    mark_price_usd: Decimal  # the price update that crossed it
    realised_pnl_btc: Decimal
    shortfall_btc: Decimal  # loss beyond the cash balance, absorbed by the venue


@dataclass(frozen=True, slots=True)
class PositionChanged:
    instrument_id: str
    reason: ChangeReason
    ts_ms: int


@dataclass(frozen=True, slots=True)
class EngineTotals:
    """Running sums of every BTC movement of the trading account.

    trading cash = net inflow + realised P&L - fees + funding + liquidation shortfall, exactly:
    every amount is a whole number of sats.
    """

    net_inflow_to_trading_btc: Decimal  # credits and transfers in, less transfers out
    realised_pnl_btc: Decimal
    fees_paid_btc: Decimal
    funding_received_btc: Decimal
    liquidation_shortfall_btc: Decimal

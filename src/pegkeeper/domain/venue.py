"""What a venue tells pegkeeper about its position and balances."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class VenuePosition:
    instrument_id: str
    size_contracts: Decimal  # signed: a short is negative
    avg_price_usd: Decimal | None
    mark_price_usd: Decimal
    liquidation_price_usd: Decimal | None = None
    unrealised_pnl: Decimal = Decimal(0)  # in the settlement currency


@dataclass(frozen=True, slots=True)
class VenueBalances:
    currency: str
    trading_equity: Decimal  # cash plus unrealised P&L in the trading account
    trading_available: Decimal  # what can be transferred out now
    funding_balance: Decimal

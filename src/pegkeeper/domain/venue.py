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


@dataclass(frozen=True, slots=True)
class VenueResync:
    """The venue's stream of changes was interrupted (a reconnection): what it would have
    said is unknown, so positions and orders must be read again before acting."""

    reason: str


@dataclass(frozen=True, slots=True)
class AccountConfig:
    position_mode: str  # OKX posMode: net_mode | long_short_mode
    account_level: int  # OKX acctLv: 1 spot, 2 single-currency margin, 3 multi, 4 portfolio
    uid: str = ""


@dataclass(frozen=True, slots=True)
class FundingRate:
    instrument_id: str
    rate: Decimal  # of the current period; positive: longs pay shorts
    funding_time_ms: int  # when it is settled
    next_funding_time_ms: int | None = None


@dataclass(frozen=True, slots=True)
class TransferReport:
    client_id: str
    transfer_id: str
    currency: str
    amount: Decimal
    from_account: str  # funding | trading
    to_account: str
    state: str  # success | pending | failed


DEPOSIT_CREDITED_STATES = frozenset({"2", "13"})
DEPOSIT_PENDING_STATES = frozenset({"0", "1", "8", "12"})
WITHDRAWAL_FAILED_STATES = frozenset({"-1", "-2"})


@dataclass(frozen=True, slots=True)
class DepositRecord:
    deposit_id: str
    currency: str
    chain: str
    amount: Decimal
    address: str
    tx_id: str
    state: str  # OKX's deposit state
    ts_ms: int

    @property
    def is_credited(self) -> bool:
        """Only 2 and 13 are final; treating 1 as done caused duplicate deposits at Galoy."""
        return self.state in DEPOSIT_CREDITED_STATES


@dataclass(frozen=True, slots=True)
class WithdrawalReport:
    client_id: str
    withdrawal_id: str
    currency: str
    chain: str
    amount: Decimal
    fee: Decimal
    to_address: str
    state: str  # OKX's withdrawal state: 2 success; -1, -2 failed; the rest pending
    tx_id: str
    ts_ms: int

    @property
    def succeeded(self) -> bool:
        return self.state == "2"

    @property
    def failed(self) -> bool:
        return self.state in WITHDRAWAL_FAILED_STATES

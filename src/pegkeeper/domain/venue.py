"""What a venue tells pegkeeper about its position and balances."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from pegkeeper.domain.units import HOUR_MS

# The venue of [venue]; the others are named by their [venues.<name>] sections.
PRIMARY_VENUE = "primary"


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
class FundingPayment:
    """A swap's funding as the venue booked it in the trading account (OKX: a bill of type 8,
    funding fee); `bill_id` is the venue's own, unique per account."""

    bill_id: str
    instrument_id: str
    currency: str
    amount: Decimal  # received; negative when paid
    ts_ms: int


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
    """A perpetual's funding as the venue publishes it: `rate` is what the next settlement, at
    `funding_time_ms`, charges (OKX's fundingRate, method current_period). `next_rate` is the
    venue's forecast for the settlement after it, when it gives one (OKX's nextFundingRate,
    empty under current_period)."""

    instrument_id: str
    rate: Decimal  # of the current period; positive: longs pay shorts
    funding_time_ms: int  # when it is settled
    next_funding_time_ms: int | None = None
    next_rate: Decimal | None = None

    @property
    def interval_hours(self) -> int | None:
        """Hours between two settlements, from the two times the venue gave (None: unknown)."""
        if self.next_funding_time_ms is None:
            return None
        hours = (self.next_funding_time_ms - self.funding_time_ms) // HOUR_MS
        return hours if hours > 0 else None


@dataclass(frozen=True, slots=True)
class SettledFundingRate:
    """One funding settlement of a perpetual: the rate charged at `funding_time_ms`."""

    instrument_id: str
    rate: Decimal  # positive: longs paid shorts
    funding_time_ms: int


class MovementState(Enum):
    """What became of a transfer between accounts or an onchain withdrawal."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class DepositState(Enum):
    """A deposit is credited only once the venue says it is final; anything short of that
    (confirming, credited but not yet withdrawable, held) is pending: counting a deposit as
    arrived too early caused duplicate deposits at Galoy."""

    PENDING = "pending"
    CREDITED = "credited"


@dataclass(frozen=True, slots=True)
class TransferReport:
    client_id: str
    transfer_id: str
    currency: str
    amount: Decimal
    from_account: str  # funding | trading
    to_account: str
    state: MovementState
    venue_state: str  # the venue's own word for it, for the audit trail


@dataclass(frozen=True, slots=True)
class DepositRecord:
    deposit_id: str
    currency: str
    chain: str
    amount: Decimal
    address: str
    tx_id: str
    state: DepositState
    venue_state: str  # the venue's own code, for the audit trail
    ts_ms: int

    @property
    def is_credited(self) -> bool:
        return self.state is DepositState.CREDITED


@dataclass(frozen=True, slots=True)
class WithdrawalReport:
    client_id: str
    withdrawal_id: str
    currency: str
    chain: str
    amount: Decimal
    fee: Decimal
    to_address: str
    state: MovementState
    venue_state: str  # the venue's own code, for the audit trail
    tx_id: str
    ts_ms: int

    @property
    def succeeded(self) -> bool:
        return self.state is MovementState.DONE

    @property
    def failed(self) -> bool:
        return self.state is MovementState.FAILED

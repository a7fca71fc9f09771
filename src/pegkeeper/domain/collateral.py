"""What the funding manager records: its decisions, the money it moves (exchange transfers,
onchain deposits and withdrawals) with every state they pass, fee bumps, leverage readings,
alerts. Each is a row appended once; a state change is a new row, never an edit."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from pegkeeper.domain.collateral_policy import CollateralActionKind
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import validate_client_id
from pegkeeper.domain.venue import PRIMARY_VENUE


class OperationKind(StrEnum):
    TRANSFER_TO_TRADING = "transfer_to_trading"
    TRANSFER_TO_FUNDING = "transfer_to_funding"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"

    @classmethod
    def of(cls, action: CollateralActionKind) -> OperationKind:
        if action is CollateralActionKind.WITHDRAW:
            return cls.WITHDRAWAL
        if action is CollateralActionKind.HOLD:
            raise ValueError("holding moves no money")
        return cls(action.value)

    @property
    def is_transfer(self) -> bool:
        return self in (OperationKind.TRANSFER_TO_TRADING, OperationKind.TRANSFER_TO_FUNDING)

    @property
    def slot_class(self) -> str:
        """Operations of one class wait for each other: one deposit on its way at a time, and
        one transfer or withdrawal pending at a time."""
        return "deposit" if self is OperationKind.DEPOSIT else "movement"

    @property
    def brings_collateral_in(self) -> bool:
        """Towards the trading account (a deposit, a transfer to trading), or away from it."""
        return self in (OperationKind.DEPOSIT, OperationKind.TRANSFER_TO_TRADING)

    def waits_for(self, open_kind: OperationKind) -> bool:
        """Whether an operation of this kind waits while one of `open_kind` is open: one of
        the same class (one deposit on its way, one transfer or withdrawal pending: the
        database's slot), or one moving money the other way (no ping-pong: no withdrawal or
        transfer to funding while a deposit comes in, no deposit while money goes out). Only
        a deposit and a transfer to trading, both bringing collateral in, run side by side."""
        same_class = self.slot_class == open_kind.slot_class
        return same_class or self.brings_collateral_in != open_kind.brings_collateral_in

    @property
    def accounts(self) -> tuple[str, str]:
        """(from, to) of an exchange transfer."""
        if self is OperationKind.TRANSFER_TO_TRADING:
            return "funding", "trading"
        if self is OperationKind.TRANSFER_TO_FUNDING:
            return "trading", "funding"
        raise ValueError(f"{self} is not a transfer")


class OperationState(StrEnum):
    CREATED = "created"  # stored before the request; not yet known to have been sent
    PENDING = "pending"  # accepted: an exchange transfer in progress, a deposit broadcast
    DONE = "done"  # arrived: transfer successful, deposit credited for good, sent
    REFUSED = "refused"  # the venue or wallet refused it; it had no effect
    FAILED = "failed"  # not processed (rate limit), or failed after acceptance
    UNKNOWN = "unknown"  # the request's outcome is uncertain: look it up before anything else
    LOST = "lost"  # never seen: not found after the lookup window, a deposit past its timeout
    # a deposit whose send may exist though the wallet shows none after the deposit lookup
    # window: never sent again; still looked up, it blocks deposits until an operator settles
    # it (DepositSettlement)
    HELD = "held"

    @property
    def is_terminal(self) -> bool:
        return self in (
            OperationState.DONE,
            OperationState.REFUSED,
            OperationState.FAILED,
            OperationState.LOST,
        )


class DepositSettlement(StrEnum):
    """What an operator found of a held deposit: the wallet never sent it (it fails), or it
    was sent in a transaction the operator names (it is pending again, followed to arrival)."""

    NOT_SENT = "not-sent"
    SENT = "sent"


TX_ID_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def settlement_of(outcome: object, tx_id: object) -> tuple[DepositSettlement, str]:
    """An operator's settlement and its transaction id ("" when not sent), checked; raises
    InvalidInput naming what is expected."""
    choices = ", ".join(f'"{s.value}"' for s in DepositSettlement)
    if not isinstance(outcome, str) or outcome not in set(DepositSettlement):
        raise InvalidInput(f"outcome must be one of {choices}, got {_shown(outcome)}")
    if outcome == DepositSettlement.NOT_SENT:
        if tx_id not in (None, ""):
            raise InvalidInput('tx_id goes with outcome "sent" only: a deposit not sent has none')
        return DepositSettlement.NOT_SENT, ""
    text = tx_id.strip().lower() if isinstance(tx_id, str) else ""
    if not TX_ID_PATTERN.match(text):
        raise InvalidInput(
            'outcome "sent" needs tx_id, the transaction that paid the deposit: 64 hexadecimal '
            f"characters, got {_shown(tx_id)}"
        )
    return DepositSettlement.SENT, text


def held_deposit_action(operation_id: str) -> str:
    """What an operator does about a held deposit, in words (the alert, the API and the CLI
    say the same)."""
    settle = f"pegkeeper funding settle {operation_id}"
    return (
        f"check the wallet for a payment labelled {operation_id}, then `{settle} --not-sent` "
        f"if there is none, or `{settle} --sent TXID` with its transaction id"
    )


def _shown(value: object) -> str:
    return "nothing" if value is None else repr(value)


@dataclass(frozen=True, slots=True)
class CollateralOperation:
    """A movement of money, fixed when pegkeeper chooses it (its id is the client id)."""

    operation_id: str
    kind: OperationKind
    currency: str
    amount: Decimal  # what moves, whole sats; a deposit's includes its matching jitter
    decision_id: str
    correlation_id: str
    created_at_ms: int
    address: str = ""  # onchain: where it is sent
    fee: Decimal = Decimal(0)  # a withdrawal's exchange fee, on top of the amount
    venue: str = PRIMARY_VENUE  # whose accounts it moves money in or out of

    @property
    def slot(self) -> str:
        """The account and class this operation occupies while open (see `slot_class`); the
        primary venue's without its name, as before there were others."""
        account = self.currency if self.venue == PRIMARY_VENUE else f"{self.venue}:{self.currency}"
        return f"{account}:{self.kind.slot_class}"

    def __post_init__(self) -> None:
        validate_client_id(self.operation_id)
        if not self.amount.is_finite() or self.amount <= 0:
            raise InvalidInput(f"a {self.kind} needs a positive amount, got {self.amount}")
        if self.kind in (OperationKind.DEPOSIT, OperationKind.WITHDRAWAL) and not self.address:
            raise InvalidInput(f"a {self.kind} needs an address")


@dataclass(frozen=True, slots=True)
class OperationRecord:
    operation: CollateralOperation
    state: OperationState
    updated_at_ms: int
    venue_id: str  # transfer id, withdrawal id, or the matched deposit id
    tx_id: str  # onchain transaction id (the latest after fee bumps)
    message: str


@dataclass(frozen=True, slots=True)
class OperationUpdate:
    """A new state of an operation, with what was learned."""

    state: OperationState
    venue_id: str = ""
    tx_id: str = ""
    message: str = ""
    fee_sats: int | None = None  # the onchain fee the wallet paid for `tx_id`, when read


@dataclass(frozen=True, slots=True)
class CollateralDecisionRecord:
    decision_id: str
    correlation_id: str
    created_at_ms: int
    trigger: str
    policy: str
    rule: str
    action: str  # a CollateralActionKind
    amount: Decimal
    currency: str
    liability_cents: int
    exposure_cents: int
    collateral: Decimal
    funding_balance: Decimal
    price_usd: Decimal
    leverage: Decimal | None
    outcome: str  # acted | hold | waits: why nothing was sent | refused-before: not retried
    venue: str = PRIMARY_VENUE  # whose account was decided on


@dataclass(frozen=True, slots=True)
class FeeBump:
    operation_id: str
    old_tx_id: str
    new_tx_id: str
    old_fee_rate_sat_vb: Decimal
    new_fee_rate_sat_vb: Decimal
    leverage: Decimal | None  # what made it urgent
    correlation_id: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class LeverageSnapshot:
    created_at_ms: int
    correlation_id: str
    venue: str
    currency: str
    mark_price_usd: Decimal
    position_contracts: Decimal
    notional: Decimal
    equity: Decimal
    funding_balance: Decimal
    leverage: Decimal | None
    liquidation_price_usd: Decimal | None
    liquidation_source: str
    distance_pct: Decimal | None


class AlertKind(StrEnum):
    LIQUIDATION_DISTANCE = "liquidation_distance"
    DEPOSIT_LOST = "deposit_lost"
    DEPOSIT_HELD = "deposit_held"
    FEED_STALE = "feed_stale"
    HEDGE_OUTSIDE_BRACKETS = "hedge_outside_brackets"
    ACCOUNT_CHECK_FAILED = "account_check_failed"
    FUNDING_REFUSED = "funding_refused"
    # the tokenized-equity hedger's
    EQUITY_FILL_REVERTED = "equity_fill_reverted"  # a reorg undid an onchain fill
    EQUITY_LOG_SKIPPED = "equity_log_skipped"  # an orderbook log that is not a hedgeable fill
    EQUITY_INGESTION_STALLED = "equity_ingestion_stalled"  # the checkpoint does not advance
    EQUITY_UNHEDGED = "equity_unhedged"  # an exposure big enough to hedge, left too long
    EQUITY_ORDER_FAILED = "equity_order_failed"  # a broker order failed or was lost
    EQUITY_LEDGER_BREAK = "equity_ledger_break"  # the fill-to-hedge ledger broke an invariant
    EQUITY_PNL_MISMATCH = "equity_pnl_mismatch"  # stored P&L differs from its replay
    EQUITY_BROKER_CHECK = "equity_broker_check"  # the broker probe found a problem
    EQUITY_BROKER_LOGIN = "equity_broker_login"  # the broker's stored login ends within a day
    EQUITY_HEDGE_BLOCKED = "equity_hedge_blocked"  # preflight: no shares or cash for a hedge
    REBALANCE_MOVE_HALTED = "rebalance_move_halted"  # a move failed or is stuck: see its action


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    kind: AlertKind
    severity: Severity
    title: str
    message: str
    created_at_ms: int
    correlation_id: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    alert: Alert
    delivered: bool
    error: str  # why delivery failed; "" when delivered or when no webhook is configured


@dataclass(frozen=True, slots=True)
class WalletTransaction:
    """An onchain transaction the operator's wallet sent, as the wallet sees it now."""

    tx_id: str
    amount_sats: int  # paid to the destination
    fee_sats: int
    fee_rate_sat_vb: Decimal
    confirmations: int  # 0 in the mempool; negative: conflicted (replaced or double spent)
    replaceable: bool  # signals BIP 125 replace-by-fee
    replaced_by_tx_id: str = ""
    comment: str = ""  # pegkeeper's operation id

    @property
    def confirmed(self) -> bool:
        return self.confirmations > 0

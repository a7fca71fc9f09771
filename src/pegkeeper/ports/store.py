"""The store's repositories: the audit trail of every decision, order, transfer and fill, and the
state the services rebuild from."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Protocol

from pegkeeper.domain.audit import AuditTrail, LiabilityPoint, OrderStateChange
from pegkeeper.domain.collateral import (
    AlertRecord,
    CollateralDecisionRecord,
    CollateralOperation,
    FeeBump,
    LeverageSnapshot,
    OperationRecord,
    OperationState,
    OperationUpdate,
)
from pegkeeper.domain.liability import LedgerEntry, LiabilityChange, LiabilityEvent
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind
from pegkeeper.domain.orders import Fill, OrderIntent, OrderState
from pegkeeper.domain.pnl import PnlInputs
from pegkeeper.domain.quotes import Quote
from pegkeeper.domain.records import (
    DecisionRecord,
    LiabilityCover,
    OrderRecord,
    PegStatsRow,
    PositionSnapshot,
)
from pegkeeper.domain.roll import RollRecord
from pegkeeper.domain.venue import FundingPayment


class LiabilityRepository(Protocol):
    async def append(
        self, change: LiabilityChange, correlation_id: str, now_ms: int
    ) -> tuple[LiabilityEvent, bool]:
        """Append atomically; returns (event, created). The same id again returns the stored
        event with created=False; the same id with other content raises ConflictError; a change
        that would take the balance below 0 raises ConflictError and writes nothing."""
        ...

    async def balance_cents(self) -> int: ...

    async def get(self, event_id: str) -> LiabilityEvent | None: ...

    async def recent(self, limit: int) -> list[LiabilityEvent]: ...


class QuoteRepository(Protocol):
    async def create(self, quote: Quote, entry: LedgerEntry | None = None) -> LiabilityEvent | None:
        """Store the quote with its `created` event in one transaction. With `entry` the quote
        (in state accepted) is accepted in that same transaction: its `accepted` event and the
        ledger entry are appended too, and the ledger event is returned. A ledger refusal
        (ConflictError) writes nothing."""
        ...

    async def accept(
        self, quote_id: str, now_ms: int, entry: LedgerEntry
    ) -> tuple[Quote, LiabilityEvent, bool]:
        """In one transaction: mark the quote accepted, append its `accepted` event and the
        ledger entry; returns (quote, ledger event, whether the event is new). Raises
        QuoteNotFound, QuoteNotAcceptable (expired at now_ms, or accepted before) or the
        ledger's ConflictError; then nothing is written. Of two concurrent accepts of one
        quote exactly one succeeds."""
        ...

    async def get(self, quote_id: str) -> Quote | None: ...

    async def events(self, quote_id: str) -> list[tuple[str, int]]:
        """The quote's events as (kind, created_at_ms), oldest first."""
        ...


class HedgeRepository(Protocol):
    async def record_decision(
        self,
        decision: DecisionRecord,
        order: OrderIntent | None = None,
        *,
        slot_version: int | None = None,
        covers: LiabilityCover | None = None,
    ) -> None:
        """Store the decision and, when given, the order it makes (with its `created` state)
        in one committed transaction: the order row exists before the order is sent. Raises
        SlotTaken, writing nothing, while another order on the order's slot is open, or when
        `slot_version` (read before deciding) is no longer the slot's version. The liability
        events in `covers` are linked to the decision in the same transaction."""
        ...

    async def last_covered_seq(self, leg: str) -> int:
        """The newest liability event a decision of `leg` answered (0 for none)."""
        ...

    async def slot_version(self, slot: str) -> int:
        """How many orders were ever opened on `slot` (0 for none)."""
        ...

    async def last_decision(self) -> DecisionRecord | None: ...

    async def get_decision(self, decision_id: str) -> DecisionRecord | None: ...

    async def create_order(self, intent: OrderIntent) -> None:
        """Store the order and its `created` state in one committed transaction."""
        ...

    async def record_order_state(
        self,
        client_order_id: str,
        state: OrderState,
        now_ms: int,
        *,
        venue_order_id: str = "",
        filled_contracts: Decimal = Decimal(0),
        avg_price_usd: Decimal | None = None,
        message: str = "",
        fills: Sequence[Fill] = (),
    ) -> None:
        """Append the order's new state, and its fills not seen before, in one transaction."""
        ...

    async def record_fills(self, fills: list[Fill], correlation_id: str) -> int:
        """Store fills not seen before (idempotent on fill id); returns how many were new."""
        ...

    async def get_order(self, client_order_id: str) -> OrderRecord | None: ...

    async def open_orders(self) -> list[OrderRecord]:
        """Orders whose latest state is not terminal, oldest first."""
        ...

    async def recent_orders(self, limit: int) -> list[OrderRecord]: ...

    async def fills_for(self, client_order_id: str) -> list[Fill]: ...

    async def record_position(self, snapshot: PositionSnapshot) -> None: ...

    async def last_position(self) -> PositionSnapshot | None: ...


class PegRepository(Protocol):
    async def record(self, rows: Sequence[PegStatsRow]) -> None: ...

    async def history(
        self, symbol: str, since_ms: int, until_ms: int, max_points: int
    ) -> list[PegStatsRow]:
        """Rows in [since_ms, until_ms], oldest first, thinned evenly to at most max_points."""
        ...

    async def downsample(self, older_than_ms: int) -> int:
        """Replace the raw rows of whole minutes before `older_than_ms` by one row per minute
        (the last of each); returns how many minute rows were written."""
        ...


class OperatorActionRepository(Protocol):
    async def record(self, action: OperatorAction) -> None:
        """Append the action (its id is unique; the same id again raises ConflictError)."""
        ...

    async def recent(self, limit: int) -> list[OperatorAction]:
        """Newest first."""
        ...

    async def last_of(self, kinds: Sequence[OperatorActionKind]) -> OperatorAction | None:
        """The newest action of one of these kinds."""
        ...

    async def on_targets(
        self, kind: OperatorActionKind, targets: Sequence[str]
    ) -> list[OperatorAction]:
        """The actions of `kind` on any of `targets` (alert ids, instruments), oldest first."""
        ...


class AuditReader(Protocol):
    """Read-only queries over the audit trail, for people: histories and trails."""

    async def liability_history(
        self, since_ms: int, until_ms: int, max_points: int
    ) -> list[LiabilityPoint]:
        """The balance after each event in [since_ms, until_ms], oldest first, thinned evenly
        to at most max_points, preceded by the balance in force at since_ms (if any)."""
        ...

    async def position_history(
        self, since_ms: int, until_ms: int, max_points: int
    ) -> list[PositionSnapshot]:
        """Snapshots in [since_ms, until_ms], oldest first, thinned evenly to at most
        max_points, preceded by the snapshot in force at since_ms (if any)."""
        ...

    async def liability_events_for(
        self, correlation_ids: Sequence[str]
    ) -> list[LiabilityEvent]: ...

    async def liability_events_of_decisions(
        self, decision_ids: Sequence[str]
    ) -> dict[str, list[LiabilityEvent]]:
        """The liability events each decision answered, oldest first, by decision id."""
        ...

    async def acknowledgements(self, alert_ids: Sequence[str]) -> dict[str, OperatorAction]:
        """The first recorded acknowledgement of each of these alerts, by alert id."""
        ...

    async def order_states(self, client_order_id: str) -> list[OrderStateChange]:
        """Every state the order went through, oldest first."""
        ...

    async def trail(self, correlation_id: str) -> AuditTrail: ...

    async def recent_quotes(self, limit: int) -> list[Quote]:
        """Newest first."""
        ...

    async def pnl_inputs(self, since_ms: int, until_ms: int) -> PnlInputs | None:
        """The venue's accounts at the window's start and end, and the fills, own moves and
        accepted quotes between them; None before the first position snapshot."""
        ...

    async def fees_paid(self) -> dict[str, Decimal]:
        """The fees of every recorded fill, summed per currency (positive: paid)."""
        ...


class CollateralRepository(Protocol):
    async def record_decision(
        self, decision: CollateralDecisionRecord, operation: CollateralOperation | None = None
    ) -> None:
        """The decision and, when given, the operation it makes (state `created`) in one
        committed transaction: the operation's client id is stored before any request."""
        ...

    async def record_operation_state(
        self,
        operation_id: str,
        update: OperationUpdate,
        now_ms: int,
        *,
        expected: OperationState | None = None,
    ) -> None:
        """Append the operation's new state; raises ValueError for an unknown operation, and
        ConflictError, writing nothing, for one that has ended (an ended state is final) or,
        with `expected`, one whose latest state is another (a change made meanwhile)."""
        ...

    async def get_operation(self, operation_id: str) -> OperationRecord | None: ...

    async def open_operations(self) -> list[OperationRecord]:
        """Operations whose latest state is not terminal, oldest first."""
        ...

    async def recent_operations(self, limit: int) -> list[OperationRecord]: ...

    async def last_decision(self) -> CollateralDecisionRecord | None: ...

    async def recent_decisions(self, limit: int) -> list[CollateralDecisionRecord]: ...

    async def record_fee_bump(self, bump: FeeBump, update: OperationUpdate) -> None:
        """The bump and the operation's state with the new tx id, in one transaction."""
        ...

    async def fee_bumps(self, operation_id: str) -> list[FeeBump]: ...

    async def record_leverage(self, snapshot: LeverageSnapshot) -> None: ...

    async def recent_leverage(self, limit: int) -> list[LeverageSnapshot]: ...

    async def record_funding_payments(
        self, venue: str, payments: Sequence[FundingPayment], now_ms: int
    ) -> int:
        """Stores the payments not stored yet (one per venue and bill id); returns how many
        were new."""
        ...

    async def last_funding_payment_ms(self, venue: str, currency: str) -> int | None:
        """The time of the newest payment stored for the venue's account in `currency`."""
        ...

    async def record_alert(self, record: AlertRecord) -> None: ...

    async def recent_alerts(self, limit: int) -> list[AlertRecord]: ...


class RollRepository(Protocol):
    async def record_roll(
        self, decision: DecisionRecord, roll: RollRecord, legs: Sequence[OrderIntent]
    ) -> None:
        """A roll of a dated future: its decision, the roll, and both orders (opening the next
        expiry, closing the old one), each in state `created`, in one transaction."""
        ...

    async def recent_rolls(self, limit: int) -> list[RollRecord]: ...


class Store(Protocol):
    liability: LiabilityRepository
    quotes: QuoteRepository
    hedge: HedgeRepository
    pegs: PegRepository
    funding: CollateralRepository
    rolls: RollRepository

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """A unit of work: every write of the repositories in this task inside the block is
        one transaction, committed when the block ends and rolled back whole if it raises."""
        ...

    async def close(self) -> None: ...

"""What the audit trail holds about one correlation id: every record that shares it."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.domain.collateral import AlertRecord
from pegkeeper.domain.liability import LiabilityEvent
from pegkeeper.domain.operator import OperatorAction
from pegkeeper.domain.orders import Fill, OrderState
from pegkeeper.domain.records import DecisionRecord, OrderRecord, PositionSnapshot


@dataclass(frozen=True, slots=True)
class OrderStateChange:
    """One recorded state of an order, as appended."""

    client_order_id: str
    state: OrderState
    venue_order_id: str
    filled_contracts: Decimal
    avg_price_usd: Decimal | None
    message: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert as the operator follows it: sent (or not) and acknowledged (or not)."""

    record: AlertRecord
    acknowledged: OperatorAction | None  # the first acknowledgement recorded

    @property
    def state(self) -> str:
        if self.acknowledged is not None:
            return "acknowledged"
        return "delivered" if self.record.delivered else "not delivered"


@dataclass(frozen=True, slots=True)
class LiabilityPoint:
    ts_ms: int
    liability_cents: int


@dataclass(frozen=True, slots=True)
class AuditTrail:
    correlation_id: str
    liability_events: list[LiabilityEvent] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    order_states: list[OrderStateChange] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    positions: list[PositionSnapshot] = field(default_factory=list)
    operator_actions: list[OperatorAction] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.liability_events
            or self.decisions
            or self.orders
            or self.fills
            or self.positions
            or self.operator_actions
        )

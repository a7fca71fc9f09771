"""What the operator sees of the dealer: liability, hedge, collateral, recent orders."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from pegkeeper.domain.ledger_sync import LedgerReadiness
from pegkeeper.domain.orders import Fill
from pegkeeper.domain.records import DecisionRecord, OrderRecord, PositionSnapshot
from pegkeeper.ports import ReadinessGate, Store


@dataclass(frozen=True, slots=True)
class DealerStatus:
    liability_cents: int
    position: PositionSnapshot | None
    last_decision: DecisionRecord | None
    ledger: LedgerReadiness | None = None  # where the liability comes from, and the gate

    @property
    def exposure_cents(self) -> int:
        return self.position.exposure_cents if self.position else 0

    @property
    def hedge_ratio(self) -> Decimal | None:
        if self.liability_cents == 0:
            return None
        ratio = Decimal(self.exposure_cents) / Decimal(-self.liability_cents)
        return ratio.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class OrderView:
    order: OrderRecord
    decision: DecisionRecord | None
    fills: list[Fill]


class DealerView:
    def __init__(self, store: Store, gate: ReadinessGate | None = None) -> None:
        self._store = store
        self._gate = gate

    async def status(self) -> DealerStatus:
        return DealerStatus(
            liability_cents=await self._store.liability.balance_cents(),
            position=await self._store.hedge.last_position(),
            last_decision=await self._store.hedge.last_decision(),
            ledger=await self._gate.readiness() if self._gate is not None else None,
        )

    async def orders(self, limit: int) -> list[OrderView]:
        views = []
        for order in await self._store.hedge.recent_orders(limit):
            decision = await self._store.hedge.get_decision(order.intent.decision_id)
            fills = await self._store.hedge.fills_for(order.intent.client_order_id)
            views.append(OrderView(order=order, decision=decision, fills=fills))
        return views

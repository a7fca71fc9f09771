"""What the operator sees of the dealer: liability, hedge, leverage and liquidation, the
hedging switch, the orders in flight, recent orders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from pegkeeper.domain.ledger_sync import LedgerReadiness
from pegkeeper.domain.orders import Fill
from pegkeeper.domain.records import DecisionRecord, OrderRecord, PositionSnapshot
from pegkeeper.ports import Clock, ReadinessGate, Store
from pegkeeper.services.collateral.manager import CollateralManager
from pegkeeper.services.hedging.control import HedgeControl, HedgingState
from pegkeeper.services.views.risk import RiskFigures, account_of, freshest


@dataclass(frozen=True, slots=True)
class DealerStatus:
    liability_cents: int
    position: PositionSnapshot | None
    last_decision: DecisionRecord | None
    ledger: LedgerReadiness | None = None  # where the liability comes from, and the gate
    risk: RiskFigures | None = None  # leverage and liquidation, the freshest reading
    hedging: HedgingState | None = None  # None: no hedger in this process
    in_flight: list[OrderRecord] = field(default_factory=list)  # sent, not yet settled
    now_ms: int | None = None  # when it was read, on the dealer's clock

    def age_ms(self, order: OrderRecord) -> int | None:
        if self.now_ms is None:
            return None
        return max(self.now_ms - order.intent.created_at_ms, 0)

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
    def __init__(
        self,
        store: Store,
        gate: ReadinessGate | None = None,
        *,
        accounts: Sequence[CollateralManager] = (),
        control: HedgeControl | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._gate = gate
        self._accounts = accounts
        self._control = control
        self._clock = clock

    async def status(self) -> DealerStatus:
        position = await self._store.hedge.last_position()
        states = [a.state for a in self._accounts if a.state is not None]
        state = account_of(states, position.instrument_id if position else None)
        return DealerStatus(
            liability_cents=await self._store.liability.balance_cents(),
            position=position,
            last_decision=await self._store.hedge.last_decision(),
            ledger=await self._gate.readiness() if self._gate is not None else None,
            risk=freshest(position, state),
            hedging=self._control.state if self._control is not None else None,
            in_flight=await self._store.hedge.open_orders(),
            now_ms=self._clock.now_ms() if self._clock is not None else None,
        )

    async def orders(self, limit: int) -> list[OrderView]:
        views = []
        for order in await self._store.hedge.recent_orders(limit):
            decision = await self._store.hedge.get_decision(order.intent.decision_id)
            fills = await self._store.hedge.fills_for(order.intent.client_order_id)
            views.append(OrderView(order=order, decision=decision, fills=fills))
        return views

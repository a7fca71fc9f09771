"""What the dashboard shows beyond the dealer's current numbers: the book over time, each
order with the liability change that caused it, the audit trail of one correlation id."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from pegkeeper.domain.audit import AlertState, AuditTrail, LiabilityPoint, OrderStateChange
from pegkeeper.domain.instruments import BTC_USD_SWAP
from pegkeeper.domain.liability import LiabilityEvent
from pegkeeper.domain.pnl import DealerPnl, dealer_pnl
from pegkeeper.domain.quotes import Quote
from pegkeeper.domain.records import PositionSnapshot
from pegkeeper.ports import AuditReader, Clock, Store
from pegkeeper.services.views.dealer import DealerView, OrderView

# OKX's inverse BTC-USD swap and futures alike: 100 USD a contract.
INVERSE_FACE_VALUE_USD = BTC_USD_SWAP.contract_value


@dataclass(frozen=True, slots=True)
class DealerPoint:
    """The book at one time: the liability then, and the last position snapshot before it."""

    ts_ms: int
    liability_cents: int
    position: PositionSnapshot | None


@dataclass(frozen=True, slots=True)
class OrderRow:
    view: OrderView
    liability_events: list[LiabilityEvent]  # the changes its decision answered


@dataclass(frozen=True, slots=True)
class OrderDetail:
    row: OrderRow
    states: list[OrderStateChange]


@dataclass(frozen=True, slots=True)
class EquityPoint:
    ts_ms: int
    equity: Decimal  # trading equity + funding balance, in the settlement currency
    mark_price_usd: Decimal

    @property
    def equity_usd(self) -> Decimal:
        return self.equity * self.mark_price_usd


@dataclass(frozen=True, slots=True)
class PnlReport:
    points: list[EquityPoint]
    fees_paid: dict[str, Decimal]
    components: DealerPnl | None = None  # None before the first position snapshot

    @property
    def change(self) -> Decimal | None:
        if len(self.points) < 2:
            return None
        return self.points[-1].equity - self.points[0].equity

    @property
    def change_usd(self) -> Decimal | None:
        if len(self.points) < 2:
            return None
        return self.points[-1].equity_usd - self.points[0].equity_usd


class DashboardView:
    def __init__(
        self, store: Store, audit: AuditReader, clock: Clock, dealer: DealerView | None = None
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self.dealer = dealer or DealerView(store)

    def now_ms(self) -> int:
        return self._clock.now_ms()

    async def history(self, window_ms: int, max_points: int) -> list[DealerPoint]:
        until_ms = self._clock.now_ms()
        since_ms = until_ms - window_ms
        liabilities = await self._audit.liability_history(since_ms, until_ms, max_points)
        positions = await self._audit.position_history(since_ms, until_ms, max_points)
        points = merge_history(liabilities, positions, since_ms)
        if points and points[-1].ts_ms < until_ms:  # the last values hold until now
            last = points[-1]
            points.append(DealerPoint(until_ms, last.liability_cents, last.position))
        return points

    async def orders(self, limit: int) -> list[OrderRow]:
        views = await self.dealer.orders(limit)
        return await self._rows(views)

    async def order(self, client_order_id: str) -> OrderDetail | None:
        record = await self._store.hedge.get_order(client_order_id)
        if record is None:
            return None
        view = OrderView(
            order=record,
            decision=await self._store.hedge.get_decision(record.intent.decision_id),
            fills=await self._store.hedge.fills_for(client_order_id),
        )
        (row,) = await self._rows([view])
        return OrderDetail(row, await self._audit.order_states(client_order_id))

    async def trail(self, correlation_id: str) -> AuditTrail:
        return await self._audit.trail(correlation_id)

    async def alerts(self, limit: int) -> list[AlertState]:
        """The newest alerts first, each with its delivery and acknowledgement."""
        records = await self._store.funding.recent_alerts(limit)
        acks = await self._audit.acknowledgements([r.alert.alert_id for r in records])
        return [AlertState(r, acks.get(r.alert.alert_id)) for r in records]

    async def quotes(self, limit: int) -> list[Quote]:
        return await self._audit.recent_quotes(limit)

    async def pnl(self, window_ms: int, max_points: int) -> PnlReport:
        until_ms = self._clock.now_ms()
        since_ms = until_ms - window_ms
        snapshots = await self._audit.position_history(since_ms, until_ms, max_points)
        points = [
            EquityPoint(
                max(s.created_at_ms, since_ms), s.collateral + s.funding_balance, s.mark_price_usd
            )
            for s in snapshots
        ]
        recorded = await self._audit.pnl_inputs(since_ms, until_ms)
        components = None if recorded is None else dealer_pnl(recorded, INVERSE_FACE_VALUE_USD)
        return PnlReport(points, await self._audit.fees_paid(), components)

    async def _rows(self, views: list[OrderView]) -> list[OrderRow]:
        """Each order with the liability changes its decision answered (before decisions
        recorded them: the change whose correlation id it carries)."""
        decision_ids = [v.order.intent.decision_id for v in views]
        answered = await self._audit.liability_events_of_decisions(decision_ids)
        ids = [v.order.intent.correlation_id for v in views]
        by_correlation: dict[str, list[LiabilityEvent]] = {}
        for event in await self._audit.liability_events_for(ids):
            by_correlation.setdefault(event.correlation_id, []).append(event)
        return [
            OrderRow(
                v,
                answered.get(v.order.intent.decision_id)
                or by_correlation.get(v.order.intent.correlation_id, []),
            )
            for v in views
        ]


def merge_history(
    liabilities: list[LiabilityPoint], positions: list[PositionSnapshot], since_ms: int = 0
) -> list[DealerPoint]:
    """One point per time at which either changed; each value carried forward until the next
    change (both are step functions). Values in force before since_ms count from since_ms."""

    def at(ts_ms: int) -> int:
        return max(ts_ms, since_ms)

    times = sorted({at(p.ts_ms) for p in liabilities} | {at(s.created_at_ms) for s in positions})
    points = []
    li = pi = 0
    liability_cents = 0
    position: PositionSnapshot | None = None
    for ts_ms in times:
        while li < len(liabilities) and at(liabilities[li].ts_ms) <= ts_ms:
            liability_cents = liabilities[li].liability_cents
            li += 1
        while pi < len(positions) and at(positions[pi].created_at_ms) <= ts_ms:
            position = positions[pi]
            pi += 1
        points.append(DealerPoint(ts_ms, liability_cents, position))
    return points


def liquidation_distance(position: PositionSnapshot | None) -> Decimal | None:
    """How far the mark price may move against the position before it is liquidated, as a
    fraction of the mark price (0.25: a 25 % move); None without a position or a price."""
    if position is None or position.size_contracts == 0:
        return None
    liquidation, mark = position.liquidation_price_usd, position.mark_price_usd
    if liquidation is None or liquidation <= 0 or mark <= 0:
        return None
    gap = liquidation - mark if position.size_contracts < 0 else mark - liquidation
    return (gap / mark).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)

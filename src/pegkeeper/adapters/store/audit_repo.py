"""Read-only queries over the audit trail for the dashboard: histories and correlation trails."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Row, Select, and_, func, or_, select

from pegkeeper.adapters.store.hedge_repo import _ORDER_WITH_STATE, _order_record
from pegkeeper.adapters.store.liability_repo import _event as liability_event
from pegkeeper.adapters.store.operator_repo import SqlOperatorActionRepository
from pegkeeper.adapters.store.pnl_repo import read_pnl_inputs
from pegkeeper.adapters.store.quote_repo import _quote
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.adapters.store.tables import (
    decision_liability_events,
    fills,
    hedge_decisions,
    liability_events,
    order_events,
    orders,
    position_snapshots,
    quotes,
)
from pegkeeper.domain.audit import AuditTrail, LiabilityPoint, OrderStateChange
from pegkeeper.domain.liability import LiabilityEvent
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind, OperatorResult
from pegkeeper.domain.orders import Fill, OrderState
from pegkeeper.domain.pnl import PnlInputs
from pegkeeper.domain.quotes import Quote
from pegkeeper.domain.records import DecisionRecord, PositionSnapshot

T = TypeVar("T")
_SNAPSHOT_COLUMNS = [c for c in position_snapshots.c if c.name != "id"]
_DECISION_COLUMNS = [c for c in hedge_decisions.c if c.name != "id"]
_FILL_COLUMNS = [
    fills.c.fill_id,
    fills.c.client_order_id,
    fills.c.size_contracts,
    fills.c.price_usd,
    fills.c.fee,
    fills.c.fee_currency,
    fills.c.ts_ms,
]
_STATE_COLUMNS = [
    order_events.c.client_order_id,
    order_events.c.state,
    order_events.c.venue_order_id,
    order_events.c.filled_contracts,
    order_events.c.avg_price_usd,
    order_events.c.message,
    order_events.c.created_at_ms,
]
MAX_IDS_PER_QUERY = 500


class SqlAuditReader:
    def __init__(self, tx: Transactions, actions: SqlOperatorActionRepository) -> None:
        self._tx = tx
        self._actions = actions

    async def liability_history(
        self, since_ms: int, until_ms: int, max_points: int
    ) -> list[LiabilityPoint]:
        t = liability_events
        before = (
            select(t.c.created_at_ms, t.c.balance_after_cents)
            .where(t.c.created_at_ms < since_ms)
            .order_by(t.c.seq.desc())
            .limit(1)
        )
        within = (
            select(t.c.created_at_ms, t.c.balance_after_cents)
            .where(and_(t.c.created_at_ms >= since_ms, t.c.created_at_ms <= until_ms))
            .order_by(t.c.seq)
        )
        async with self._tx.read() as conn:
            start = (await conn.execute(before)).one_or_none()
            rows = (await conn.execute(within)).all()
        points = [LiabilityPoint(r.created_at_ms, r.balance_after_cents) for r in rows]
        thinned = thin(points, max_points - 1 if start is not None else max_points)
        if start is not None:
            thinned.insert(0, LiabilityPoint(since_ms, start.balance_after_cents))
        return thinned

    async def position_history(
        self, since_ms: int, until_ms: int, max_points: int
    ) -> list[PositionSnapshot]:
        t = position_snapshots
        before = (
            select(*_SNAPSHOT_COLUMNS)
            .where(t.c.created_at_ms < since_ms)
            .order_by(t.c.id.desc())
            .limit(1)
        )
        within = (
            select(*_SNAPSHOT_COLUMNS)
            .where(and_(t.c.created_at_ms >= since_ms, t.c.created_at_ms <= until_ms))
            .order_by(t.c.id)
        )
        start = await self._all(before)
        rows = await self._all(within)
        snapshots = thin([PositionSnapshot(**r._asdict()) for r in rows], max_points - len(start))
        return [PositionSnapshot(**r._asdict()) for r in start] + snapshots

    async def liability_events_for(self, correlation_ids: Sequence[str]) -> list[LiabilityEvent]:
        wanted = list(dict.fromkeys(correlation_ids))
        events: list[LiabilityEvent] = []
        for start in range(0, len(wanted), MAX_IDS_PER_QUERY):
            chunk = wanted[start : start + MAX_IDS_PER_QUERY]
            statement = (
                select(liability_events)
                .where(liability_events.c.correlation_id.in_(chunk))
                .order_by(liability_events.c.seq)
            )
            events += [liability_event(r) for r in await self._all(statement)]
        return sorted(events, key=lambda e: e.seq)

    async def liability_events_of_decisions(
        self, decision_ids: Sequence[str]
    ) -> dict[str, list[LiabilityEvent]]:
        links = decision_liability_events
        by_decision: dict[str, list[LiabilityEvent]] = {}
        wanted = list(dict.fromkeys(decision_ids))
        for start in range(0, len(wanted), MAX_IDS_PER_QUERY):
            statement = (
                select(links.c.decision_id, liability_events)
                .join_from(links, liability_events, links.c.liability_seq == liability_events.c.seq)
                .where(links.c.decision_id.in_(wanted[start : start + MAX_IDS_PER_QUERY]))
                .order_by(liability_events.c.seq)
            )
            for row in await self._all(statement):
                by_decision.setdefault(row.decision_id, []).append(liability_event(row))
        return by_decision

    async def acknowledgements(self, alert_ids: Sequence[str]) -> dict[str, OperatorAction]:
        kind = OperatorActionKind.ACKNOWLEDGE_ALERT
        first: dict[str, OperatorAction] = {}
        for action in await self._actions.on_targets(kind, alert_ids):
            if action.result is OperatorResult.RECORDED:
                first.setdefault(action.target, action)
        return first

    async def order_states(self, client_order_id: str) -> list[OrderStateChange]:
        statement = (
            select(*_STATE_COLUMNS)
            .where(order_events.c.client_order_id == client_order_id)
            .order_by(order_events.c.id)
        )
        return [_state(r) for r in await self._all(statement)]

    async def trail(self, correlation_id: str) -> AuditTrail:
        """Everything under the correlation id, and, for a liability event, every decision
        that answered it (filed under another event's id when it answered several), with
        their orders and the other events they answered."""
        links = decision_liability_events
        asked = await self.liability_events_for([correlation_id])
        answering = select(links.c.decision_id).where(
            links.c.liability_seq.in_([e.seq for e in asked])
        )
        decisions = await self._all(
            select(*_DECISION_COLUMNS)
            .where(
                or_(
                    hedge_decisions.c.correlation_id == correlation_id,
                    hedge_decisions.c.decision_id.in_(answering),
                )
            )
            .order_by(hedge_decisions.c.id)
        )
        decision_ids = [r.decision_id for r in decisions]
        order_rows = await self._all(
            _ORDER_WITH_STATE.where(
                or_(
                    orders.c.correlation_id == correlation_id,
                    orders.c.decision_id.in_(decision_ids),
                )
            ).order_by(orders.c.id)
        )
        order_ids = [r.client_order_id for r in order_rows]
        states = await self._all(
            select(*_STATE_COLUMNS)
            .where(order_events.c.client_order_id.in_(order_ids))
            .order_by(order_events.c.id)
        )
        fill_rows = await self._all(
            select(*_FILL_COLUMNS)
            .where(fills.c.client_order_id.in_(order_ids))
            .order_by(fills.c.ts_ms, fills.c.id)
        )
        correlation_ids = {correlation_id, *(r.correlation_id for r in decisions)}
        positions = await self._all(
            select(*_SNAPSHOT_COLUMNS)
            .where(position_snapshots.c.correlation_id.in_(correlation_ids))
            .order_by(position_snapshots.c.id)
        )
        covered = await self.liability_events_of_decisions(decision_ids)
        events = {e.seq: e for e in asked}
        events |= {e.seq: e for listed in covered.values() for e in listed}
        return AuditTrail(
            correlation_id=correlation_id,
            liability_events=sorted(events.values(), key=lambda e: e.seq),
            decisions=[DecisionRecord(**r._asdict()) for r in decisions],
            orders=[_order_record(r) for r in order_rows],
            order_states=[_state(r) for r in states],
            fills=[Fill(**r._asdict()) for r in fill_rows],
            positions=[PositionSnapshot(**r._asdict()) for r in positions],
            operator_actions=await self._actions.for_correlation(correlation_id),
        )

    async def recent_quotes(self, limit: int) -> list[Quote]:
        if limit <= 0:
            return []
        statement = select(quotes).order_by(quotes.c.id.desc()).limit(limit)
        return [_quote(r) for r in await self._all(statement)]

    async def fees_paid(self) -> dict[str, Decimal]:
        if self._tx.engine.dialect.name == "postgresql":
            summed = select(fills.c.fee_currency, func.sum(fills.c.fee).label("fee"))
            rows = await self._all(summed.group_by(fills.c.fee_currency))
            return {r.fee_currency: Decimal(r.fee) for r in rows}
        # SQLite keeps decimals as text, which SQL would sum as binary floats: summed here.
        totals: dict[str, Decimal] = {}
        for row in await self._all(select(fills.c.fee_currency, fills.c.fee)):
            totals[row.fee_currency] = totals.get(row.fee_currency, Decimal(0)) + row.fee
        return totals

    async def pnl_inputs(self, since_ms: int, until_ms: int) -> PnlInputs | None:
        return await read_pnl_inputs(self._tx, since_ms, until_ms)

    async def _all(self, statement: Select[*tuple[Any, ...]]) -> Sequence[Row[Any]]:
        async with self._tx.read() as conn:
            return (await conn.execute(statement)).all()


def thin(items: list[T], max_points: int) -> list[T]:
    """At most max_points items, evenly spaced, always ending on the newest."""
    if max_points <= 0:
        return []
    if len(items) <= max_points:
        return items
    if max_points == 1:
        return [items[-1]]
    step = len(items) / max_points
    return [*(items[int(i * step)] for i in range(max_points - 1)), items[-1]]


def _state(row: Any) -> OrderStateChange:
    values = row._asdict()
    values["state"] = OrderState(values["state"])
    return OrderStateChange(**values)

"""Decisions, orders, order states, fills and position snapshots in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BindParameter,
    Insert,
    Row,
    Select,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store.repositories import NowMs, Transactions
from pegkeeper.adapters.store.tables import (
    decision_liability_events,
    hedge_decisions,
    liability_events,
    open_orders,
    order_events,
    order_slots,
    orders,
    position_snapshots,
)
from pegkeeper.adapters.store.tables import fills as fills_table
from pegkeeper.domain.errors import ConflictError, SlotTaken
from pegkeeper.domain.orders import (
    TERMINAL_STATES,
    Fill,
    OrderIntent,
    OrderKind,
    OrderSide,
    OrderState,
)
from pegkeeper.domain.records import (
    DecisionRecord,
    LiabilityCover,
    OrderRecord,
    PositionSnapshot,
)

_DECISION_COLUMNS = [c for c in hedge_decisions.c if c.name != "id"]
_SNAPSHOT_COLUMNS = [c for c in position_snapshots.c if c.name != "id"]
_FILL_COLUMNS = [
    fills_table.c.fill_id,
    fills_table.c.client_order_id,
    fills_table.c.size_contracts,
    fills_table.c.price_usd,
    fills_table.c.fee,
    fills_table.c.fee_currency,
    fills_table.c.ts_ms,
]

_LAST_DECISION = select(*_DECISION_COLUMNS).order_by(hedge_decisions.c.id.desc()).limit(1)
_DECISION_BY_ID = select(*_DECISION_COLUMNS).where(
    hedge_decisions.c.decision_id == bindparam("decision_id")
)
_SLOT_VERSION = select(order_slots.c.version).where(order_slots.c.slot == bindparam("slot"))
_LAST_POSITION = select(*_SNAPSHOT_COLUMNS).order_by(position_snapshots.c.id.desc()).limit(1)
_FILLS_FOR = (
    select(*_FILL_COLUMNS)
    .where(fills_table.c.client_order_id == bindparam("client_order_id"))
    .order_by(fills_table.c.ts_ms, fills_table.c.id)
)

_events_of_order = order_events.alias("events_of_order")
_LATEST_EVENT_ID = (
    select(func.max(_events_of_order.c.id))
    .where(_events_of_order.c.client_order_id == orders.c.client_order_id)
    .correlate(orders)
    .scalar_subquery()
)
# An order with its latest event: the intent's columns, then the state's.
_ORDER_WITH_STATE = (
    select(
        orders.c.client_order_id,
        orders.c.instrument_id,
        orders.c.kind,
        orders.c.side,
        orders.c.size_contracts,
        orders.c.decision_id,
        orders.c.correlation_id,
        orders.c.created_at_ms,
        orders.c.limit_price_usd,
        order_events.c.state,
        order_events.c.created_at_ms.label("updated_at_ms"),
        order_events.c.venue_order_id,
        order_events.c.filled_contracts,
        order_events.c.avg_price_usd,
        order_events.c.message,
    )
    .join_from(orders, order_events, order_events.c.client_order_id == orders.c.client_order_id)
    .where(order_events.c.id == _LATEST_EVENT_ID)
)
_OPEN_ORDERS = _ORDER_WITH_STATE.where(
    orders.c.client_order_id.in_(select(open_orders.c.client_order_id))
).order_by(orders.c.id)
_CLOSE_OPEN_ORDER = delete(open_orders).where(
    open_orders.c.client_order_id == bindparam("client_order_id")
)
_ORDER_BY_ID = _ORDER_WITH_STATE.where(orders.c.client_order_id == bindparam("client_order_id"))
_RECENT_ORDERS = _ORDER_WITH_STATE.order_by(orders.c.id.desc()).limit(bindparam("limit"))

_EVENT_PARAMS = (
    "state",
    "venue_order_id",
    "filled_contracts",
    "avg_price_usd",
    "message",
    "created_at_ms",
)


def _param(name: str) -> BindParameter[Any]:
    # Typed, so that PostgreSQL knows each parameter's type inside INSERT .. SELECT.
    return bindparam(name, type_=order_events.c[name].type)


# The event's correlation id is copied from its order in the same statement, which also
# inserts nothing when the order does not exist.
_APPEND_ORDER_EVENT = (
    insert(order_events)
    .from_select(
        ["client_order_id", "correlation_id", *_EVENT_PARAMS],
        select(
            orders.c.client_order_id,
            orders.c.correlation_id,
            *(_param(name) for name in _EVENT_PARAMS),
        ).where(orders.c.client_order_id == bindparam("client_order_id")),
    )
    .returning(order_events.c.correlation_id)
)
# The events a decision answers, linked in the statement that reads them: an event appended
# meanwhile is past `through_seq` and waits for the next decision.
_LINK_COVERED_EVENTS = insert(decision_liability_events).from_select(
    ["decision_id", "liability_seq", "leg"],
    select(
        bindparam("decision_id", type_=decision_liability_events.c.decision_id.type),
        liability_events.c.seq,
        bindparam("leg", type_=decision_liability_events.c.leg.type),
    ).where(
        liability_events.c.seq > bindparam("after_seq", type_=liability_events.c.seq.type),
        liability_events.c.seq <= bindparam("through_seq", type_=liability_events.c.seq.type),
    ),
)
_LAST_COVERED_SEQ = select(func.max(decision_liability_events.c.liability_seq)).where(
    decision_liability_events.c.leg == bindparam("leg")
)
# Keeps a multi-row INSERT well below SQLite's limit of bound parameters per statement.
_FILLS_PER_STATEMENT = 500


class SqlHedgeRepository:
    def __init__(self, tx: Transactions, now_ms: NowMs) -> None:
        self._tx = tx
        self._now_ms = now_ms
        dialect = postgresql if tx.engine.dialect.name == "postgresql" else sqlite
        self._insert_new_fills: Insert = dialect.insert(fills_table).on_conflict_do_nothing(
            index_elements=["fill_id"]
        )

    async def record_decision(
        self,
        decision: DecisionRecord,
        order: OrderIntent | None = None,
        *,
        slot_version: int | None = None,
        covers: LiabilityCover | None = None,
    ) -> None:
        try:
            async with self._tx.write() as conn:
                await conn.execute(insert(hedge_decisions), asdict(decision))
                if covers is not None and covers.through_seq > covers.after_seq:
                    link = asdict(covers) | {"decision_id": decision.decision_id}
                    await conn.execute(_LINK_COVERED_EVENTS, link)
                if order is not None:
                    await _insert_order(conn, order, slot_version)
        except IntegrityError:
            raise ConflictError(
                f"decision {decision.decision_id!r} or its order is already recorded"
            ) from None

    async def last_covered_seq(self, leg: str) -> int:
        async with self._tx.read() as conn:
            seq = (await conn.execute(_LAST_COVERED_SEQ, {"leg": leg})).scalar_one_or_none()
        return int(seq) if seq is not None else 0

    async def last_decision(self) -> DecisionRecord | None:
        row = await self._one_or_none(_LAST_DECISION, {})
        return DecisionRecord(**row._asdict()) if row is not None else None

    async def slot_version(self, slot: str) -> int:
        async with self._tx.read() as conn:
            version = (await conn.execute(_SLOT_VERSION, {"slot": slot})).scalar_one_or_none()
        return int(version) if version is not None else 0

    async def get_decision(self, decision_id: str) -> DecisionRecord | None:
        row = await self._one_or_none(_DECISION_BY_ID, {"decision_id": decision_id})
        return DecisionRecord(**row._asdict()) if row is not None else None

    async def create_order(self, intent: OrderIntent) -> None:
        try:
            async with self._tx.write() as conn:
                await _insert_order(conn, intent)
        except IntegrityError:
            raise ConflictError(f"order {intent.client_order_id!r} already exists") from None

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
        async with self._tx.write() as conn:
            correlation_id = await _append_event(
                conn,
                client_order_id,
                state,
                now_ms,
                venue_order_id=venue_order_id,
                filled_contracts=filled_contracts,
                avg_price_usd=avg_price_usd,
                message=message,
            )
            await self._insert_fills(conn, fills, correlation_id)

    async def record_fills(self, fills: list[Fill], correlation_id: str) -> int:
        async with self._tx.write() as conn:
            return await self._insert_fills(conn, fills, correlation_id)

    async def _insert_fills(
        self, conn: AsyncConnection, fills: Sequence[Fill], correlation_id: str
    ) -> int:
        unique = list({fill.fill_id: fill for fill in fills}.values())
        if not unique:
            return 0
        extra = {"correlation_id": correlation_id, "created_at_ms": self._now_ms()}
        rows = [asdict(fill) | extra for fill in unique]
        created = 0
        for start in range(0, len(rows), _FILLS_PER_STATEMENT):
            chunk = rows[start : start + _FILLS_PER_STATEMENT]
            statement = self._insert_new_fills.values(chunk).returning(fills_table.c.fill_id)
            created += len((await conn.execute(statement)).all())
        return created

    async def get_order(self, client_order_id: str) -> OrderRecord | None:
        row = await self._one_or_none(_ORDER_BY_ID, {"client_order_id": client_order_id})
        return _order_record(row) if row is not None else None

    async def open_orders(self) -> list[OrderRecord]:
        return [_order_record(row) for row in await self._all(_OPEN_ORDERS, {})]

    async def recent_orders(self, limit: int) -> list[OrderRecord]:
        if limit <= 0:
            return []
        return [_order_record(row) for row in await self._all(_RECENT_ORDERS, {"limit": limit})]

    async def fills_for(self, client_order_id: str) -> list[Fill]:
        rows = await self._all(_FILLS_FOR, {"client_order_id": client_order_id})
        return [Fill(**row._asdict()) for row in rows]

    async def record_position(self, snapshot: PositionSnapshot) -> None:
        async with self._tx.write() as conn:
            await conn.execute(insert(position_snapshots), asdict(snapshot))

    async def last_position(self) -> PositionSnapshot | None:
        row = await self._one_or_none(_LAST_POSITION, {})
        return PositionSnapshot(**row._asdict()) if row is not None else None

    async def _one_or_none(
        self, statement: Select[*tuple[Any, ...]], params: dict[str, Any]
    ) -> Row[Any] | None:
        async with self._tx.read() as conn:
            return (await conn.execute(statement, params)).one_or_none()

    async def _all(
        self, statement: Select[*tuple[Any, ...]], params: dict[str, Any]
    ) -> Sequence[Row[Any]]:
        async with self._tx.read() as conn:
            return (await conn.execute(statement, params)).all()


async def _append_event(
    conn: AsyncConnection,
    client_order_id: str,
    state: OrderState,
    now_ms: int,
    *,
    venue_order_id: str = "",
    filled_contracts: Decimal = Decimal(0),
    avg_price_usd: Decimal | None = None,
    message: str = "",
) -> str:
    """Append the state; returns the order's correlation id."""
    result = await conn.execute(
        _APPEND_ORDER_EVENT,
        {
            "client_order_id": client_order_id,
            "state": state.value,
            "venue_order_id": venue_order_id,
            "filled_contracts": filled_contracts,
            "avg_price_usd": avg_price_usd,
            "message": message,
            "created_at_ms": now_ms,
        },
    )
    correlation_id = result.scalar_one_or_none()
    if correlation_id is None:
        raise ValueError(f"unknown order {client_order_id!r}: create_order it first")
    if state in TERMINAL_STATES:
        await conn.execute(_CLOSE_OPEN_ORDER, {"client_order_id": client_order_id})
    return str(correlation_id)


async def _insert_order(
    conn: AsyncConnection, intent: OrderIntent, slot_version: int | None = None
) -> None:
    """The order, its `created` state and its claim on the slot; SlotTaken when the slot holds
    an open order or, with `slot_version`, when an order was opened on it since."""
    await _claim_slot(conn, intent, slot_version)
    await conn.execute(insert(orders), _intent_params(intent))
    try:
        await conn.execute(
            insert(open_orders), {"client_order_id": intent.client_order_id, "slot": intent.slot}
        )
    except IntegrityError:
        raise SlotTaken(
            f"an order on {intent.slot} is still open: {intent.client_order_id} is not recorded "
            "and not sent"
        ) from None
    await _append_event(conn, intent.client_order_id, OrderState.CREATED, intent.created_at_ms)


async def _claim_slot(conn: AsyncConnection, intent: OrderIntent, expected: int | None) -> None:
    """Counts one more order on the slot. The update takes the row's lock first, so that on
    PostgreSQL a racing writer waits for this transaction and then finds the version moved."""
    bump = update(order_slots).where(order_slots.c.slot == intent.slot)
    if expected is not None:
        bump = bump.where(order_slots.c.version == expected)
    result = await conn.execute(bump.values(version=order_slots.c.version + 1))
    if result.rowcount == 1:
        return
    stale = SlotTaken(
        f"an order was opened on {intent.slot} after the decision read its inputs: "
        f"{intent.client_order_id} is not recorded and not sent"
    )
    if expected:
        raise stale
    try:
        await conn.execute(insert(order_slots), {"slot": intent.slot, "version": 1})
    except IntegrityError:
        raise stale from None


def _intent_params(intent: OrderIntent) -> dict[str, Any]:
    params = asdict(intent)
    params["kind"] = intent.kind.value
    params["side"] = intent.side.value if intent.side is not None else None
    return params


def _order_record(row: Row[Any]) -> OrderRecord:
    intent = OrderIntent(
        client_order_id=row.client_order_id,
        instrument_id=row.instrument_id,
        kind=OrderKind(row.kind),
        side=OrderSide(row.side) if row.side is not None else None,
        size_contracts=row.size_contracts,
        decision_id=row.decision_id,
        correlation_id=row.correlation_id,
        created_at_ms=row.created_at_ms,
        limit_price_usd=row.limit_price_usd,
    )
    return OrderRecord(
        intent=intent,
        state=OrderState(row.state),
        updated_at_ms=row.updated_at_ms,
        venue_order_id=row.venue_order_id,
        filled_contracts=row.filled_contracts,
        avg_price_usd=row.avg_price_usd,
        message=row.message,
    )

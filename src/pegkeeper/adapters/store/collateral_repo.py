"""The funding manager's trail in SQL: decisions, operations and their states, fee bumps,
leverage snapshots, the swap's funding payments, alerts sent. Rows are inserted once; a state
is a new row. An operation's ended state is final: a state appended to an operation no longer
open is refused (ConflictError), so an operator's settlement and the funding manager's lookup
of the same operation, written by two processes, never leave it open in its history and
closed in the index of open ones. On PostgreSQL the append takes the operation's row in that
index first, so the two wait for each other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import orjson
from sqlalchemy import Row, Select, bindparam, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.adapters.store.tables import (
    alerts_sent,
    fee_bumps,
    funding_decisions,
    funding_operation_events,
    funding_operations,
    funding_payments,
    leverage_snapshots,
    open_funding_operations,
)
from pegkeeper.domain.collateral import (
    Alert,
    AlertKind,
    AlertRecord,
    CollateralDecisionRecord,
    CollateralOperation,
    FeeBump,
    LeverageSnapshot,
    OperationKind,
    OperationRecord,
    OperationState,
    OperationUpdate,
    Severity,
)
from pegkeeper.domain.errors import ConflictError, SlotTaken
from pegkeeper.domain.venue import PRIMARY_VENUE, FundingPayment

_DECISION_COLUMNS = [c for c in funding_decisions.c if c.name != "id"]
_BUMP_COLUMNS = [c for c in fee_bumps.c if c.name != "id"]
_LEVERAGE_COLUMNS = [c for c in leverage_snapshots.c if c.name != "id"]
_ALERT_COLUMNS = [c for c in alerts_sent.c if c.name != "id"]

_RECENT_DECISIONS = (
    select(*_DECISION_COLUMNS).order_by(funding_decisions.c.id.desc()).limit(bindparam("limit"))
)
_BUMPS_OF = (
    select(*_BUMP_COLUMNS)
    .where(fee_bumps.c.operation_id == bindparam("operation_id"))
    .order_by(fee_bumps.c.id)
)
_RECENT_LEVERAGE = (
    select(*_LEVERAGE_COLUMNS).order_by(leverage_snapshots.c.id.desc()).limit(bindparam("limit"))
)
_RECENT_ALERTS = select(*_ALERT_COLUMNS).order_by(alerts_sent.c.id.desc()).limit(bindparam("limit"))

_events = funding_operation_events.alias("events_of_operation")
_LATEST_EVENT_ID = (
    select(func.max(_events.c.id))
    .where(_events.c.operation_id == funding_operations.c.operation_id)
    .correlate(funding_operations)
    .scalar_subquery()
)
_OPERATION_WITH_STATE = (
    select(
        *(c for c in funding_operations.c if c.name != "id"),
        funding_operation_events.c.state,
        funding_operation_events.c.created_at_ms.label("updated_at_ms"),
        funding_operation_events.c.venue_id,
        funding_operation_events.c.tx_id,
        funding_operation_events.c.message,
    )
    .join_from(
        funding_operations,
        funding_operation_events,
        funding_operation_events.c.operation_id == funding_operations.c.operation_id,
    )
    .where(funding_operation_events.c.id == _LATEST_EVENT_ID)
)
_OPEN_OPERATIONS = _OPERATION_WITH_STATE.where(
    funding_operations.c.operation_id.in_(select(open_funding_operations.c.operation_id))
).order_by(funding_operations.c.id)
_OPERATION_BY_ID = _OPERATION_WITH_STATE.where(
    funding_operations.c.operation_id == bindparam("operation_id")
)
_RECENT_OPERATIONS = _OPERATION_WITH_STATE.order_by(funding_operations.c.id.desc()).limit(
    bindparam("limit")
)
_CORRELATION_OF = select(funding_operations.c.correlation_id).where(
    funding_operations.c.operation_id == bindparam("operation_id")
)
_CLOSE_OPEN = delete(open_funding_operations).where(
    open_funding_operations.c.operation_id == bindparam("operation_id")
)
_IS_OPEN = select(open_funding_operations.c.operation_id).where(
    open_funding_operations.c.operation_id == bindparam("operation_id")
)
_LATEST_STATE = (
    select(funding_operation_events.c.state)
    .where(funding_operation_events.c.operation_id == bindparam("operation_id"))
    .order_by(funding_operation_events.c.id.desc())
    .limit(1)
)


class SqlCollateralRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def record_decision(
        self, decision: CollateralDecisionRecord, operation: CollateralOperation | None = None
    ) -> None:
        try:
            async with self._tx.write() as conn:
                await conn.execute(insert(funding_decisions), asdict(decision))
                if operation is not None:
                    await _insert_operation(conn, operation)
        except IntegrityError:
            raise ConflictError(
                f"funding decision {decision.decision_id!r} or its operation is already recorded"
            ) from None

    async def record_operation_state(
        self,
        operation_id: str,
        update: OperationUpdate,
        now_ms: int,
        *,
        expected: OperationState | None = None,
    ) -> None:
        async with self._tx.write() as conn:
            await _append_state(conn, operation_id, update, now_ms, expected)

    async def get_operation(self, operation_id: str) -> OperationRecord | None:
        rows = await self._all(_OPERATION_BY_ID, {"operation_id": operation_id})
        return _operation_record(rows[0]) if rows else None

    async def open_operations(self) -> list[OperationRecord]:
        return [_operation_record(r) for r in await self._all(_OPEN_OPERATIONS, {})]

    async def recent_operations(self, limit: int) -> list[OperationRecord]:
        if limit <= 0:
            return []
        rows = await self._all(_RECENT_OPERATIONS, {"limit": limit})
        return [_operation_record(r) for r in rows]

    async def last_decision(self) -> CollateralDecisionRecord | None:
        found = await self.recent_decisions(1)
        return found[0] if found else None

    async def recent_decisions(self, limit: int) -> list[CollateralDecisionRecord]:
        if limit <= 0:
            return []
        rows = await self._all(_RECENT_DECISIONS, {"limit": limit})
        return [CollateralDecisionRecord(**r._asdict()) for r in rows]

    async def record_fee_bump(self, bump: FeeBump, update: OperationUpdate) -> None:
        async with self._tx.write() as conn:
            await conn.execute(insert(fee_bumps), asdict(bump))
            await _append_state(conn, bump.operation_id, update, bump.created_at_ms)

    async def fee_bumps(self, operation_id: str) -> list[FeeBump]:
        rows = await self._all(_BUMPS_OF, {"operation_id": operation_id})
        return [FeeBump(**r._asdict()) for r in rows]

    async def record_leverage(self, snapshot: LeverageSnapshot) -> None:
        async with self._tx.write() as conn:
            await conn.execute(insert(leverage_snapshots), asdict(snapshot))

    async def recent_leverage(self, limit: int) -> list[LeverageSnapshot]:
        if limit <= 0:
            return []
        rows = await self._all(_RECENT_LEVERAGE, {"limit": limit})
        return [LeverageSnapshot(**r._asdict()) for r in rows]

    async def record_funding_payments(
        self, venue: str, payments: Sequence[FundingPayment], now_ms: int
    ) -> int:
        if not payments:
            return 0
        p = funding_payments
        async with self._tx.write() as conn:
            known = set(
                (
                    await conn.execute(
                        select(p.c.bill_id)
                        .where(p.c.venue == venue)
                        .where(p.c.bill_id.in_([x.bill_id for x in payments]))
                    )
                ).scalars()
            )
            new = {x.bill_id: x for x in payments if x.bill_id not in known}
            if new:
                rows = [
                    asdict(x) | {"venue": venue, "recorded_at_ms": now_ms} for x in new.values()
                ]
                await conn.execute(insert(p), rows)
        return len(new)

    async def last_funding_payment_ms(self, venue: str, currency: str) -> int | None:
        p = funding_payments
        newest = select(func.max(p.c.ts_ms)).where(p.c.venue == venue, p.c.currency == currency)
        async with self._tx.read() as conn:
            found: int | None = (await conn.execute(newest)).scalar_one_or_none()
        return found

    async def record_alert(self, record: AlertRecord) -> None:
        alert = record.alert
        row = {
            "alert_id": alert.alert_id,
            "kind": alert.kind.value,
            "severity": alert.severity.value,
            "title": alert.title,
            "message": alert.message,
            "details": orjson.dumps(alert.details, option=orjson.OPT_SORT_KEYS).decode(),
            "delivered": record.delivered,
            "error": record.error,
            "correlation_id": alert.correlation_id,
            "created_at_ms": alert.created_at_ms,
        }
        try:
            async with self._tx.write() as conn:
                await conn.execute(insert(alerts_sent), row)
        except IntegrityError:
            raise ConflictError(f"alert {alert.alert_id!r} is already recorded") from None

    async def recent_alerts(self, limit: int) -> list[AlertRecord]:
        if limit <= 0:
            return []
        return [_alert_record(r) for r in await self._all(_RECENT_ALERTS, {"limit": limit})]

    async def _all(
        self, statement: Select[*tuple[Any, ...]], params: dict[str, Any]
    ) -> Sequence[Row[Any]]:
        async with self._tx.read() as conn:
            return (await conn.execute(statement, params)).all()


async def _insert_operation(conn: AsyncConnection, operation: CollateralOperation) -> None:
    params = asdict(operation)
    params["kind"] = operation.kind.value
    await conn.execute(insert(funding_operations), params)
    try:
        await conn.execute(
            insert(open_funding_operations),
            {"operation_id": operation.operation_id, "slot": operation.slot},
        )
    except IntegrityError:
        raise SlotTaken(
            f"another {operation.kind.slot_class} of {operation.currency}{_on(operation)} is "
            f"open: {operation.operation_id} is not recorded and not sent"
        ) from None
    created = OperationUpdate(OperationState.CREATED)
    await conn.execute(
        insert(funding_operation_events),
        _event_row(
            operation.operation_id, created, operation.correlation_id, operation.created_at_ms
        ),
    )


def _on(operation: CollateralOperation) -> str:
    return "" if operation.venue == PRIMARY_VENUE else f" on {operation.venue}"


async def _append_state(
    conn: AsyncConnection,
    operation_id: str,
    update: OperationUpdate,
    now_ms: int,
    expected: OperationState | None = None,
) -> None:
    """Refused (ConflictError, nothing written) for an operation that has ended, or whose
    latest state is not `expected` when one is given."""
    params = {"operation_id": operation_id}
    correlation_id = (await conn.execute(_CORRELATION_OF, params)).scalar_one_or_none()
    if correlation_id is None:
        raise ValueError(f"unknown funding operation {operation_id!r}: record it first")
    is_open = _IS_OPEN.with_for_update() if conn.dialect.name == "postgresql" else _IS_OPEN
    if (await conn.execute(is_open, params)).one_or_none() is None:
        ended = await _latest_state(conn, operation_id)
        raise ConflictError(
            f"funding operation {operation_id} is {ended.value}: its state is final, "
            f"{update.state.value} is not recorded"
        )
    if expected is not None and (latest := await _latest_state(conn, operation_id)) is not expected:
        raise ConflictError(
            f"funding operation {operation_id} is {latest.value}, no longer "
            f"{expected.value}: {update.state.value} is not recorded"
        )
    await conn.execute(
        insert(funding_operation_events), _event_row(operation_id, update, correlation_id, now_ms)
    )
    if update.state.is_terminal:
        await conn.execute(_CLOSE_OPEN, params)


async def _latest_state(conn: AsyncConnection, operation_id: str) -> OperationState:
    return OperationState(
        (await conn.execute(_LATEST_STATE, {"operation_id": operation_id})).scalar_one()
    )


def _event_row(
    operation_id: str, update: OperationUpdate, correlation_id: str, now_ms: int
) -> dict[str, Any]:
    return {
        "operation_id": operation_id,
        "state": update.state.value,
        "venue_id": update.venue_id,
        "tx_id": update.tx_id,
        "message": update.message,
        "fee_sats": update.fee_sats,
        "correlation_id": correlation_id,
        "created_at_ms": now_ms,
    }


def _operation_record(row: Row[Any]) -> OperationRecord:
    operation = CollateralOperation(
        operation_id=row.operation_id,
        kind=OperationKind(row.kind),
        currency=row.currency,
        amount=row.amount,
        decision_id=row.decision_id,
        correlation_id=row.correlation_id,
        created_at_ms=row.created_at_ms,
        address=row.address,
        fee=row.fee,
        venue=row.venue,
    )
    return OperationRecord(
        operation=operation,
        state=OperationState(row.state),
        updated_at_ms=row.updated_at_ms,
        venue_id=row.venue_id,
        tx_id=row.tx_id,
        message=row.message,
    )


def _alert_record(row: Row[Any]) -> AlertRecord:
    alert = Alert(
        alert_id=row.alert_id,
        kind=AlertKind(row.kind),
        severity=Severity(row.severity),
        title=row.title,
        message=row.message,
        created_at_ms=row.created_at_ms,
        correlation_id=row.correlation_id,
        details=dict(orjson.loads(row.details)),
    )
    return AlertRecord(alert=alert, delivered=row.delivered, error=row.error)

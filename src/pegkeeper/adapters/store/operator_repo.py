"""Operator actions in SQL: appended once, never changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Row, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.adapters.store.tables import operator_actions as t
from pegkeeper.domain.errors import ConflictError
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind, OperatorResult

_COLUMNS = [c for c in t.c if c.name != "id"]
MAX_TARGETS = 500  # per query, well below the bound parameters a statement may carry
_RECENT = select(*_COLUMNS).order_by(t.c.id.desc()).limit(bindparam("limit"))
_FOR_CORRELATION = (
    select(*_COLUMNS).where(t.c.correlation_id == bindparam("correlation_id")).order_by(t.c.id)
)


class SqlOperatorActionRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def record(self, action: OperatorAction) -> None:
        params = asdict(action) | {"action": action.action.value, "result": action.result.value}
        try:
            async with self._tx.write() as conn:
                await conn.execute(insert(t), params)
        except IntegrityError:
            raise ConflictError(
                f"operator action {action.action_id!r} is already recorded"
            ) from None

    async def recent(self, limit: int) -> list[OperatorAction]:
        if limit <= 0:
            return []
        async with self._tx.read() as conn:
            rows = (await conn.execute(_RECENT, {"limit": limit})).all()
        return [operator_action(r) for r in rows]

    async def last_of(self, kinds: Sequence[OperatorActionKind]) -> OperatorAction | None:
        statement = (
            select(*_COLUMNS)
            .where(t.c.action.in_([k.value for k in kinds]))
            .order_by(t.c.id.desc())
            .limit(1)
        )
        async with self._tx.read() as conn:
            row = (await conn.execute(statement)).one_or_none()
        return operator_action(row) if row is not None else None

    async def on_targets(
        self, kind: OperatorActionKind, targets: Sequence[str]
    ) -> list[OperatorAction]:
        wanted = list(dict.fromkeys(targets))[:MAX_TARGETS]
        statement = (
            select(*_COLUMNS)
            .where(t.c.action == kind.value, t.c.target.in_(wanted))
            .order_by(t.c.id)
        )
        async with self._tx.read() as conn:
            rows = (await conn.execute(statement)).all()
        return [operator_action(r) for r in rows]

    async def for_correlation(self, correlation_id: str) -> list[OperatorAction]:
        async with self._tx.read() as conn:
            rows = (await conn.execute(_FOR_CORRELATION, {"correlation_id": correlation_id})).all()
        return [operator_action(r) for r in rows]


def operator_action(row: Row[Any]) -> OperatorAction:
    values = row._asdict()
    values["action"] = OperatorActionKind(values["action"])
    values["result"] = OperatorResult(values["result"])
    return OperatorAction(**values)

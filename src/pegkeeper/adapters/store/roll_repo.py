"""Rolls of dated futures in SQL: the decision, both orders and the roll in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from pegkeeper.adapters.store.hedge_repo import _insert_order
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.adapters.store.tables import hedge_decisions, hedge_rolls
from pegkeeper.domain.errors import ConflictError
from pegkeeper.domain.orders import OrderIntent
from pegkeeper.domain.records import DecisionRecord
from pegkeeper.domain.roll import RollRecord

_ROLL_COLUMNS = [c for c in hedge_rolls.c if c.name != "id"]
_RECENT = select(*_ROLL_COLUMNS).order_by(hedge_rolls.c.id.desc()).limit(bindparam("limit"))


class SqlRollRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def record_roll(
        self, decision: DecisionRecord, roll: RollRecord, legs: Sequence[OrderIntent]
    ) -> None:
        legs_by_id = {leg.client_order_id for leg in legs}
        if legs_by_id != {roll.open_client_order_id, roll.close_client_order_id}:
            raise ValueError("a roll records exactly its opening and its closing order")
        try:
            async with self._tx.write() as conn:
                await conn.execute(insert(hedge_decisions), asdict(decision))
                for leg in legs:
                    await _insert_order(conn, leg)
                await conn.execute(insert(hedge_rolls), asdict(roll))
        except IntegrityError:
            raise ConflictError(f"roll {roll.roll_id!r} or one of its orders exists") from None

    async def recent_rolls(self, limit: int) -> list[RollRecord]:
        if limit <= 0:
            return []
        async with self._tx.read() as conn:
            rows = (await conn.execute(_RECENT, {"limit": limit})).all()
        return [RollRecord(**row._asdict()) for row in rows]

"""The carry allocation's weights and decisions (allocation_tables.py) as the database keeps
them: a change of the weights and its decision are one transaction, checked against the
version the decision was made on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select

from pegkeeper.adapters.store.allocation_tables import allocation_weights as w
from pegkeeper.adapters.store.allocation_tables import carry_decisions as d
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.domain.carry_records import (
    AllocationWeights,
    CarryDecisionRecord,
    CarryLegInputs,
)
from pegkeeper.domain.errors import ConflictError

_DECIMALS = (
    "weight_before",
    "weight_after",
    "carry_per_year",
    "net_carry_per_year",
    "trade_cost_bps",
    "next_rate",
    "mean_rate",
    "future_usd",
    "spot_usd",
)


class SqlAllocationRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def weights(self) -> AllocationWeights:
        async with self._tx.read() as conn:
            rows = (await conn.execute(select(w).order_by(w.c.leg))).all()
        if not rows:
            return AllocationWeights()
        first = rows[0]._mapping
        return AllocationWeights(
            version=first["version"],
            by_leg=tuple((row.leg, row.weight) for row in rows),
            updated_at_ms=first["updated_at_ms"],
            decision_id=first["decision_id"],
        )

    async def record_decision(self, decision: CarryDecisionRecord, expected_version: int) -> None:
        wanted = expected_version + 1 if decision.changed else expected_version
        if decision.version != wanted:
            raise ConflictError(
                f"decision {decision.decision_id} is at version {decision.version}; after "
                f"version {expected_version} it must be {wanted}"
            )
        async with self._tx.write() as conn:
            stored = (await conn.execute(select(func.max(w.c.version)))).scalar_one()
            if (stored or 0) != expected_version:
                raise ConflictError(
                    f"the weights are at version {stored or 0}, not {expected_version}: "
                    "decided on weights changed since"
                )
            await conn.execute(insert(d).values(**_decision_row(decision)))
            if decision.changed:
                await conn.execute(delete(w))
                await conn.execute(
                    insert(w),
                    [
                        {
                            "leg": leg,
                            "weight": weight,
                            "version": decision.version,
                            "decision_id": decision.decision_id,
                            "updated_at_ms": decision.created_at_ms,
                        }
                        for leg, weight in decision.stored_weights
                    ],
                )

    async def recent_decisions(self, limit: int) -> list[CarryDecisionRecord]:
        query = select(d).order_by(d.c.id.desc()).limit(limit)
        async with self._tx.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_decision(row._mapping) for row in rows]

    async def last_move(self) -> CarryDecisionRecord | None:
        query = select(d).where(d.c.move_to.is_not(None)).order_by(d.c.id.desc()).limit(1)
        async with self._tx.read() as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else _decision(row._mapping)


def _decision_row(decision: CarryDecisionRecord) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id,
        "created_at_ms": decision.created_at_ms,
        "rule": decision.rule,
        "version": decision.version,
        "changed": decision.changed,
        "move_from": decision.move_from,
        "move_to": decision.move_to,
        "move_share": decision.move_share,
        "gain_bps": decision.gain_bps,
        "cost_bps": decision.cost_bps,
        "legs": orjson.dumps([_leg_json(leg) for leg in decision.legs]).decode(),
    }


def _leg_json(leg: CarryLegInputs) -> dict[str, Any]:
    found: dict[str, Any] = {
        "leg": leg.leg,
        "instrument_id": leg.instrument_id,
        "settlements": leg.settlements,
        "expiry_ms": leg.expiry_ms,
    }
    for name in _DECIMALS:
        value = getattr(leg, name)
        found[name] = None if value is None else format(value, "f")
    return found


def _leg(found: dict[str, Any]) -> CarryLegInputs:
    return CarryLegInputs(
        leg=found["leg"],
        instrument_id=found["instrument_id"],
        weight_before=Decimal(found["weight_before"]),
        weight_after=Decimal(found["weight_after"]),
        carry_per_year=Decimal(found["carry_per_year"]),
        net_carry_per_year=Decimal(found["net_carry_per_year"]),
        trade_cost_bps=Decimal(found["trade_cost_bps"]),
        next_rate=_optional(found["next_rate"]),
        mean_rate=_optional(found["mean_rate"]),
        settlements=found["settlements"],
        future_usd=_optional(found["future_usd"]),
        spot_usd=_optional(found["spot_usd"]),
        expiry_ms=found["expiry_ms"],
    )


def _optional(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _decision(row: Any) -> CarryDecisionRecord:
    return CarryDecisionRecord(
        decision_id=row["decision_id"],
        created_at_ms=row["created_at_ms"],
        rule=row["rule"],
        version=row["version"],
        changed=bool(row["changed"]),
        legs=tuple(_leg(found) for found in orjson.loads(row["legs"])),
        move_from=row["move_from"],
        move_to=row["move_to"],
        move_share=row["move_share"],
        gain_bps=row["gain_bps"],
        cost_bps=row["cost_bps"],
    )

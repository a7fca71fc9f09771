"""Rows of the rebalancer's tables to domain records and back, and the reads they need."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store.rebalance_tables import (
    rebalance_move_steps,
    rebalance_moves,
    rebalance_proposals,
)
from pegkeeper.domain.equities.inventory import Direction
from pegkeeper.domain.equities.move_records import (
    IntentStatus,
    MoveRecord,
    ProposalRecord,
    ProposalStatus,
    StepIntent,
)
from pegkeeper.domain.equities.moves import Halt, MoveKind, MoveRoute, MoveStatus, MoveStep
from pegkeeper.domain.equities.proposals import Proposal
from pegkeeper.domain.errors import InvalidInput

_P, _M, _S = rebalance_proposals, rebalance_moves, rebalance_move_steps


def json_list(values: Sequence[str]) -> str:
    return orjson.dumps(list(values)).decode()


def from_json_list(text: str) -> tuple[str, ...]:
    return tuple(str(v) for v in orjson.loads(text))


def proposal_record(row: Row[Any]) -> ProposalRecord:
    proposal = Proposal(
        asset=row.asset,
        direction=Direction(row.direction),
        amount=row.amount,
        reason=row.reason,
        unblocks=from_json_list(row.unblocks),
    )
    return ProposalRecord(
        proposal_id=row.proposal_id,
        proposal=proposal,
        status=ProposalStatus(row.status),
        created_at_ms=row.created_at_ms,
        decided_by=row.decided_by,
        decided_at_ms=row.decided_at_ms,
        move_id=row.move_id,
    )


def step_intent(row: Row[Any]) -> StepIntent:
    return StepIntent(
        move_id=row.move_id,
        step=MoveStep(row.step),
        status=IntentStatus(row.status),
        created_at_ms=row.created_at_ms,
        updated_at_ms=row.updated_at_ms,
        request_id=row.request_id,
        tx_hash=row.tx_hash,
        signer=row.signer,
        nonce=row.nonce,
        raw_tx=row.raw_tx,
        amount_asked=row.amount_asked,
        amount_received=row.amount_received,
        detail=row.detail,
        replaced_tx_hashes=from_json_list(row.replaced_tx_hashes),
    )


def move_record(row: Row[Any], steps: Sequence[StepIntent] = ()) -> MoveRecord:
    return MoveRecord(
        move_id=row.move_id,
        kind=MoveKind(row.kind),
        asset=row.asset,
        amount=row.amount,
        route=MoveRoute(wrapped=row.wrapped, bridged=row.bridged),
        step=MoveStep(row.step),
        status=MoveStatus(row.status),
        created_at_ms=row.created_at_ms,
        updated_at_ms=row.updated_at_ms,
        step_at_ms=row.step_at_ms,
        proposal_id=row.proposal_id,
        halt=Halt(row.halt) if row.halt else None,
        error=row.error,
        steps=tuple(steps),
    )


async def proposal_row(
    conn: AsyncConnection, proposal_id: str, *, lock: bool = False
) -> Row[Any] | None:
    query = select(_P).where(_P.c.proposal_id == proposal_id)
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).one_or_none()


async def move_row(conn: AsyncConnection, move_id: str, *, lock: bool = False) -> Row[Any]:
    """The move's row (locked until the commit on PostgreSQL when `lock`); InvalidInput for
    an unknown id."""
    query = select(_M).where(_M.c.move_id == move_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        raise InvalidInput(f"unknown move {move_id!r}: open it first")
    return row


async def step_row(conn: AsyncConnection, move_id: str, step: MoveStep) -> Row[Any] | None:
    query = select(_S).where(_S.c.move_id == move_id, _S.c.step == step.value)
    return (await conn.execute(query)).one_or_none()


async def moves_with_steps(conn: AsyncConnection, query: Select[Any]) -> list[MoveRecord]:
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    ids = [row.move_id for row in rows]
    steps: dict[str, list[StepIntent]] = {move_id: [] for move_id in ids}
    found = await conn.execute(select(_S).where(_S.c.move_id.in_(ids)).order_by(_S.c.id))
    for step in found:
        steps[step.move_id].append(step_intent(step))
    return [move_record(row, steps[row.move_id]) for row in rows]


def new_step_row(
    move_id: str, step: MoveStep, status: IntentStatus, now_ms: int, **values: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "move_id": move_id,
        "step": step.value,
        "status": status.value,
        "request_id": "",
        "tx_hash": "",
        "signer": "",
        "nonce": None,
        "raw_tx": "",
        "amount_asked": None,
        "amount_received": None,
        "detail": "",
        "replaced_tx_hashes": "[]",
        "created_at_ms": now_ms,
        "updated_at_ms": now_ms,
    }
    row.update(values)
    return row


def check_amount(name: str, amount: Decimal | None) -> None:
    if amount is not None and amount < 0:
        raise InvalidInput(f"{name} must be 0 or more, not {amount}")

"""The writes of a move (part of `rebalance_repo.SqlRebalanceRepository`): opening it in its
asset's slot, the intent of each step before its request, the step's result, and the step
changes the domain's transition rules allow, each appended to the move's events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store import rebalance_rows as rows
from pegkeeper.adapters.store.rebalance_tables import (
    rebalance_move_events,
    rebalance_move_steps,
    rebalance_moves,
    rebalance_proposals,
)
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.domain.equities.move_records import (
    IntentStatus,
    MoveRecord,
    NewMove,
    ProposalStatus,
    StepIntent,
    check_intent_status,
)
from pegkeeper.domain.equities.moves import (
    HALTS,
    Halt,
    InvalidTransition,
    MoveInFlight,
    MoveKind,
    MovePlan,
    MoveRoute,
    MoveStatus,
    MoveStep,
    check_halt,
)
from pegkeeper.domain.equities.transfers import SignedTx
from pegkeeper.domain.errors import ConflictError, InvalidInput

_P, _M, _E, _S = rebalance_proposals, rebalance_moves, rebalance_move_events, rebalance_move_steps
_HOLDING = [s.value for s in MoveStatus if s.holds_asset]


class MoveWrites:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def open_move(self, move: NewMove) -> MoveRecord:
        async with self._tx.write() as conn:
            if (await conn.execute(select(_M.c.id).where(_M.c.move_id == move.move_id))).first():
                raise ConflictError(f"move {move.move_id!r} is already recorded")
            await _refuse_second_move(conn, move)
            try:
                await conn.execute(insert(_M), _move_row(move))
            except IntegrityError:  # a racing writer opened one since the read above
                raise MoveInFlight(_in_flight(move, "another")) from None
            if move.proposal_id:
                await _start_proposal(conn, move)
            await _event(
                conn,
                move.move_id,
                MoveStep.OPENED,
                MoveStatus.ACTIVE,
                None,
                f"{move.kind.value} {move.amount} {move.asset}",
                move.created_at_ms,
            )
        return _opened(move)

    async def record_intent(
        self,
        move_id: str,
        step: MoveStep,
        now_ms: int,
        *,
        request_id: str = "",
        tx: SignedTx | None = None,
        amount_asked: Decimal | None = None,
        detail: str = "",
    ) -> StepIntent:
        rows.check_amount("amount_asked", amount_asked)
        values: dict[str, Any] = {"request_id": request_id, "amount_asked": amount_asked}
        values["detail"] = detail
        if tx is not None:
            values |= _tx_values(tx)
        if not request_id and tx is None:
            raise InvalidInput(
                f"the intent of {step.value} needs its request id or its signed transaction"
            )
        async with self._tx.write() as conn:
            move = await rows.move_row(conn, move_id, lock=True)
            # a stuck move's next step too: the bridge's mint is asked for only once the
            # attestation it waited for has come, late
            _check_next(move, step, stuck_too=True)
            row = rows.new_step_row(move_id, step, IntentStatus.INTENDED, now_ms, **values)
            try:
                await conn.execute(insert(_S), row)
            except IntegrityError:
                raise ConflictError(
                    f"the {step.value} step of move {move_id} has its intent already: look "
                    "its request up, never send it again"
                ) from None
            stored = await rows.step_row(conn, move_id, step)
        assert stored is not None
        return rows.step_intent(stored)

    async def record_step_result(
        self,
        move_id: str,
        step: MoveStep,
        status: IntentStatus,
        now_ms: int,
        *,
        request_id: str | None = None,
        tx_hash: str | None = None,
        amount_received: Decimal | None = None,
        detail: str | None = None,
    ) -> StepIntent:
        rows.check_amount("amount_received", amount_received)
        learnt = {
            "request_id": request_id,
            "tx_hash": None if tx_hash is None else tx_hash.lower(),
            "amount_received": amount_received,
            "detail": detail,
        }
        values = {k: v for k, v in learnt.items() if v is not None}
        async with self._tx.write() as conn:
            move = await rows.move_row(conn, move_id, lock=True)
            spec = _plan(move).spec(step)
            found = await rows.step_row(conn, move_id, step)
            if found is None:
                if spec.irreversible:
                    raise InvalidInput(
                        f"the {step.value} step of move {move_id} has no intent: record it "
                        "before the request"
                    )
                _check_next(move, step, stuck_too=True)
                await conn.execute(
                    insert(_S), rows.new_step_row(move_id, step, status, now_ms, **values)
                )
            else:
                check_intent_status(step, IntentStatus(found.status), status)
                await _update_step(conn, found, status=status.value, updated_at_ms=now_ms, **values)
            stored = await rows.step_row(conn, move_id, step)
        assert stored is not None
        return rows.step_intent(stored)

    async def record_fee_bump(
        self, move_id: str, step: MoveStep, tx: SignedTx, now_ms: int
    ) -> StepIntent:
        async with self._tx.write() as conn:
            await rows.move_row(conn, move_id, lock=True)
            found = await rows.step_row(conn, move_id, step)
            if found is None or not found.tx_hash:
                raise InvalidInput(f"the {step.value} step of move {move_id} sent no transaction")
            if found.nonce != tx.nonce or found.signer != tx.sender.lower():
                raise InvalidInput(
                    f"a fee bump replaces nonce {found.nonce} of {found.signer}, not nonce "
                    f"{tx.nonce} of {tx.sender}"
                )
            if IntentStatus(found.status).is_final:
                raise ConflictError(f"the {step.value} step of move {move_id} is {found.status}")
            replaced = (*rows.from_json_list(found.replaced_tx_hashes), found.tx_hash)
            values = _tx_values(tx) | {"replaced_tx_hashes": rows.json_list(replaced)}
            await _update_step(conn, found, updated_at_ms=now_ms, **values)
            stored = await rows.step_row(conn, move_id, step)
        assert stored is not None
        return rows.step_intent(stored)

    async def advance(self, move_id: str, to_step: MoveStep, now_ms: int) -> MoveRecord:
        async with self._tx.write() as conn:
            move = await rows.move_row(conn, move_id, lock=True)
            status = _plan(move).advance(MoveStatus(move.status), MoveStep(move.step), to_step)
            if _plan(move).spec(to_step).irreversible:
                await _require_confirmed(conn, move_id, to_step)
            await conn.execute(
                update(_M)
                .where(_M.c.move_id == move_id)
                .values(
                    step=to_step.value,
                    status=status.value,
                    halt="",
                    error="",
                    updated_at_ms=now_ms,
                    step_at_ms=now_ms,
                )
            )
            await _event(conn, move_id, to_step, status, None, "", now_ms)
            if status.is_final:
                await _finish_proposal(conn, move.proposal_id)
            found = await rows.moves_with_steps(conn, select(_M).where(_M.c.move_id == move_id))
        return found[0]

    async def fail(self, move_id: str, halt: Halt, reason: str, now_ms: int) -> MoveRecord:
        return await self._halt(move_id, halt, reason, now_ms, MoveStatus.FAILED)

    async def mark_stuck(self, move_id: str, halt: Halt, reason: str, now_ms: int) -> MoveRecord:
        return await self._halt(move_id, halt, reason, now_ms, MoveStatus.STUCK)

    async def _halt(
        self, move_id: str, halt: Halt, reason: str, now_ms: int, expected: MoveStatus
    ) -> MoveRecord:
        if HALTS[halt].status is not expected:
            raise InvalidInput(
                f"{halt.value} is a {HALTS[halt].status.value} state, not a {expected.value} one"
            )
        async with self._tx.write() as conn:
            move = await rows.move_row(conn, move_id, lock=True)
            status = check_halt(MoveStatus(move.status), halt)
            await conn.execute(
                update(_M)
                .where(_M.c.move_id == move_id)
                .values(status=status.value, halt=halt.value, error=reason, updated_at_ms=now_ms)
            )
            await _event(conn, move_id, MoveStep(move.step), status, halt, reason, now_ms)
            if status.is_final:
                await _finish_proposal(conn, move.proposal_id)
            found = await rows.moves_with_steps(conn, select(_M).where(_M.c.move_id == move_id))
        return found[0]


def _plan(move: Row[Any]) -> MovePlan:
    return MovePlan(MoveKind(move.kind), MoveRoute(wrapped=move.wrapped, bridged=move.bridged))


def _check_next(move: Row[Any], step: MoveStep, *, stuck_too: bool = False) -> None:
    """Only the next step of an active move gets an intent or a first result; of a stuck
    one too with `stuck_too` (the late answer it waited for, or the request that answer
    allows)."""
    plan, current, status = _plan(move), MoveStep(move.step), MoveStatus(move.status)
    plan.spec(step)  # a step of this kind of move at all
    if not (status is MoveStatus.ACTIVE or (stuck_too and status is MoveStatus.STUCK)):
        raise InvalidTransition(
            f"move {move.move_id} is {move.status}: no request for {step.value}"
        )
    following = plan.next_step(current)
    if following is None or following.step is not step:
        expected = "none" if following is None else following.step.value
        raise InvalidTransition(
            f"move {move.move_id} is at {current.value}: its next step is {expected}, "
            f"not {step.value}"
        )


async def _require_confirmed(conn: AsyncConnection, move_id: str, step: MoveStep) -> None:
    found = await rows.step_row(conn, move_id, step)
    status = "no intent" if found is None else f"its intent {found.status}"
    if found is None or found.status != IntentStatus.CONFIRMED.value:
        raise InvalidTransition(
            f"move {move_id} cannot reach {step.value} with {status}: confirm it first"
        )


async def _refuse_second_move(conn: AsyncConnection, move: NewMove) -> None:
    holder = (
        await conn.execute(
            select(_M.c.move_id, _M.c.step, _M.c.status).where(
                _M.c.asset == move.asset, _M.c.status.in_(_HOLDING)
            )
        )
    ).first()
    if holder is not None:
        raise MoveInFlight(_in_flight(move, f"{holder.move_id} ({holder.status}, {holder.step})"))


def _in_flight(move: NewMove, holder: str) -> str:
    return (
        f"move {holder} of {move.asset} has not ended: {move.move_id} is not recorded and "
        "nothing of it was sent"
    )


async def _start_proposal(conn: AsyncConnection, move: NewMove) -> None:
    proposal = await rows.proposal_row(conn, move.proposal_id, lock=True)
    if proposal is None:
        raise InvalidInput(f"unknown proposal {move.proposal_id!r}")
    if not ProposalStatus(proposal.status).is_open or proposal.asset != move.asset:
        raise ConflictError(
            f"proposal {move.proposal_id} ({proposal.status}, {proposal.asset}) cannot be "
            f"executed by move {move.move_id} of {move.asset}"
        )
    await conn.execute(
        update(_P)
        .where(_P.c.proposal_id == move.proposal_id)
        .values(status=ProposalStatus.EXECUTING.value, move_id=move.move_id)
    )


async def _finish_proposal(conn: AsyncConnection, proposal_id: str) -> None:
    if proposal_id:
        await conn.execute(
            update(_P)
            .where(_P.c.proposal_id == proposal_id)
            .values(status=ProposalStatus.DONE.value)
        )


async def _event(
    conn: AsyncConnection,
    move_id: str,
    step: MoveStep,
    status: MoveStatus,
    halt: Halt | None,
    message: str,
    now_ms: int,
) -> None:
    await conn.execute(
        insert(_E),
        {
            "move_id": move_id,
            "step": step.value,
            "status": status.value,
            "halt": "" if halt is None else halt.value,
            "message": message,
            "created_at_ms": now_ms,
        },
    )


async def _update_step(conn: AsyncConnection, found: Row[Any], **values: Any) -> None:
    await conn.execute(update(_S).where(_S.c.id == found.id).values(**values))


def _tx_values(tx: SignedTx) -> dict[str, Any]:
    return {
        "tx_hash": tx.tx_hash.lower(),
        "signer": tx.sender.lower(),
        "nonce": tx.nonce,
        "raw_tx": tx.raw_hex,
    }


def _move_row(move: NewMove) -> dict[str, Any]:
    return {
        "move_id": move.move_id,
        "kind": move.kind.value,
        "asset": move.asset,
        "amount": move.amount,
        "wrapped": move.route.wrapped,
        "bridged": move.route.bridged,
        "step": MoveStep.OPENED.value,
        "status": MoveStatus.ACTIVE.value,
        "proposal_id": move.proposal_id,
        "halt": "",
        "error": "",
        "created_at_ms": move.created_at_ms,
        "updated_at_ms": move.created_at_ms,
        "step_at_ms": move.created_at_ms,
    }


def _opened(move: NewMove) -> MoveRecord:
    return MoveRecord(
        move_id=move.move_id,
        kind=move.kind,
        asset=move.asset,
        amount=move.amount,
        route=move.route,
        step=MoveStep.OPENED,
        status=MoveStatus.ACTIVE,
        created_at_ms=move.created_at_ms,
        updated_at_ms=move.created_at_ms,
        step_at_ms=move.created_at_ms,
        proposal_id=move.proposal_id,
    )

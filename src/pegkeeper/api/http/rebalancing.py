"""Inventory rebalancing over HTTP: the inventory of each asset against its band, proposals,
moves, switches, the moves' transfers, and the operator's actions on them (the same tokens,
checks and audit trail as /api/v1/operator and the equities' pause and resume).

Routes: GET /api/v1/equities/inventory, GET /api/v1/equities/rebalancing (?history_limit=,
&before_ms= for the next history page), GET /api/v1/equities/rebalancing/moves/{move_id},
GET /api/v1/equities/rebalancing/transfers; POST .../rebalancing/proposals/{id}/approve and
.../dismiss with {"note": ...}; POST .../rebalancing/execution with {"asset": "AAPL" | "all",
"enabled": true | false, "note": ...}. Without rebalancing in this process the reads answer
`configured: false` (a move: 404) and the actions 409.

Each action is written to the audit trail in the same transaction as the change it makes, so
neither is ever recorded without the other; a refused one (a proposal no longer proposed) is
recorded too, as failed, and answered 409 naming the proposal's status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from pegkeeper.api.http import rebalancing_json as shapes
from pegkeeper.api.http.operator import OperatorAuth, action_body, authorised
from pegkeeper.api.http.serialize_web import operator_action
from pegkeeper.domain.equities.move_records import ProposalRecord, ProposalStatus
from pegkeeper.domain.equities.moves import ExecutionSwitches
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.events import TOPIC_OPERATOR, encode_event
from pegkeeper.domain.operator import (
    OperatorAction,
    OperatorActionKind,
    OperatorResult,
    validate_note,
)
from pegkeeper.ports import Bus, Clock, OperatorActionRepository
from pegkeeper.services.hedging.operator import Requester, acted
from pegkeeper.services.ids import new_correlation_id
from pegkeeper.services.views.rebalancing import (
    EVERY_ASSET,
    MAX_HISTORY,
    RebalancingView,
    UnknownMove,
)

log = structlog.get_logger("pegkeeper.http")

NOT_RUNNING = "inventory rebalancing is not configured in this process"
MAX_ID_CHARS = 128
Transaction = Callable[[], AbstractAsyncContextManager[None]]
_APPROVE, _DISMISS = OperatorActionKind.APPROVE_REBALANCE, OperatorActionKind.DISMISS_REBALANCE
_EXECUTION = OperatorActionKind.SET_REBALANCE_EXECUTION


@dataclass
class RebalancingApi:
    view: RebalancingView
    actions: OperatorActionRepository  # the audit trail operator actions are written to
    clock: Clock
    bus: Bus | None = None  # operator actions are announced as the other ones are
    transaction: Transaction | None = None  # the store's unit of work (SqlStore.transaction)

    _last_ms: int = field(default=0, init=False, repr=False)

    def stamp(self) -> int:
        """Now, but after the last action stamped here: two actions never share a time."""
        self._last_ms = max(self.clock.now_ms(), self._last_ms + 1)
        return self._last_ms

    def unit(self) -> AbstractAsyncContextManager[None]:
        return self.transaction() if self.transaction is not None else contextlib.nullcontext()


def rebalancing_router(api: RebalancingApi | None, auth: OperatorAuth) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/equities/inventory")
    async def inventory() -> dict[str, Any]:
        if api is None:
            return {"configured": False, "assets": []}
        rows = await api.view.inventory()
        return {
            "configured": True,
            "now_ms": api.clock.now_ms(),
            "assets": [shapes.inventory_row(r) for r in rows],
        }

    @router.get("/api/v1/equities/rebalancing")
    async def rebalancing(
        history_limit: int = Query(20, ge=1, le=MAX_HISTORY),
        before_ms: int | None = Query(None, ge=0),
    ) -> dict[str, Any]:
        if api is None:
            return {"configured": False}
        body = shapes.overview(await api.view.overview(history_limit, before_ms))
        return {"configured": True, "operator_actions": auth.enabled, **body}

    @router.get("/api/v1/equities/rebalancing/moves/{move_id}")
    async def move(move_id: str) -> dict[str, Any]:
        if api is None:
            raise HTTPException(404, f"no rebalancing move {move_id!r}: {NOT_RUNNING}")
        try:
            return shapes.move_detail(await api.view.move(move_id))
        except UnknownMove as error:
            raise HTTPException(404, str(error)) from None

    @router.get("/api/v1/equities/rebalancing/transfers")
    async def transfers(limit: int = Query(50, ge=1, le=MAX_HISTORY)) -> dict[str, Any]:
        if api is None:
            return {"available": False, "transfers": []}
        found = await api.view.transfers(limit)
        return {"available": True, "transfers": [shapes.transfer(t) for t in found]}

    async def decide(request: Request, proposal_id: str, kind: OperatorActionKind) -> JSONResponse:
        who = authorised(request, auth, action=kind.value)
        if isinstance(who, JSONResponse):
            return who
        if api is None:
            return JSONResponse({"error": NOT_RUNNING}, 409)
        note = validate_note((await action_body(request)).get("note"))
        action, record = await _decide(api, kind, who, proposal_id, note)
        await _announce(api, action)
        answer = operator_action(action) | {"proposal": shapes.proposal(record)}
        if action.result is OperatorResult.FAILED:
            return JSONResponse(answer | {"error": action.detail}, status_code=409)
        return JSONResponse(answer, status_code=200)

    @router.post("/api/v1/equities/rebalancing/proposals/{proposal_id}/approve")
    async def approve(request: Request, proposal_id: str) -> JSONResponse:
        return await decide(request, proposal_id, _APPROVE)

    @router.post("/api/v1/equities/rebalancing/proposals/{proposal_id}/dismiss")
    async def dismiss(request: Request, proposal_id: str) -> JSONResponse:
        return await decide(request, proposal_id, _DISMISS)

    @router.post("/api/v1/equities/rebalancing/execution")
    async def execution(request: Request) -> JSONResponse:
        who = authorised(request, auth, action=_EXECUTION.value)
        if isinstance(who, JSONResponse):
            return who
        if api is None:
            return JSONResponse({"error": NOT_RUNNING}, 409)
        body = await action_body(request, '{"asset": "AAPL" or "all", "enabled": true}')
        asset = _asset(body.get("asset"), await api.view.known_assets())
        enabled = _enabled(body.get("enabled"))
        note = validate_note(body.get("note"))
        action = await _set_execution(api, who, asset, enabled, note)
        await _announce(api, action)
        switches = [shapes.switch(s) for s in await api.view.switches()]
        return JSONResponse(operator_action(action) | {"switches": switches}, status_code=200)

    return router


async def _decide(
    api: RebalancingApi,
    kind: OperatorActionKind,
    who: Requester,
    proposal_id: str,
    note: str,
) -> tuple[OperatorAction, ProposalRecord]:
    """The audit record and the proposal's new status in one transaction (a proposal
    changed by a racing writer in between rolls both back: ConflictError, 409)."""
    if not 1 <= len(proposal_id) <= MAX_ID_CHARS:
        raise HTTPException(404, f"no rebalancing proposal {proposal_id[:MAX_ID_CHARS]!r}")
    repository = api.view.repository
    async with api.unit():
        record = await repository.proposal(proposal_id)
        if record is None:
            raise HTTPException(404, f"no rebalancing proposal {proposal_id!r}")
        result, detail = _decision(record, kind)
        action = _action(api, who, kind, proposal_id, note, result, detail)
        await api.actions.record(action)
        if result is OperatorResult.DONE:
            now_ms = action.created_at_ms
            if kind is _APPROVE:
                record = await repository.approve_proposal(proposal_id, who.operator, now_ms)
            else:
                record = await repository.dismiss_proposal(proposal_id, who.operator, now_ms)
    _log(action)
    return action, record


def _decision(record: ProposalRecord, kind: OperatorActionKind) -> tuple[OperatorResult, str]:
    p, status = record.proposal, record.status
    what = f"proposal {record.proposal_id} ({p.kind.value} {p.amount:f} {shapes.unit_of(p.asset)})"
    by = f" by {record.decided_by}" if record.decided_by else ""
    if kind is _APPROVE:
        if status is not ProposalStatus.PROPOSED:
            return OperatorResult.FAILED, (
                f"{what} is {status.value}{by}: only a proposed one can be approved"
            )
        return OperatorResult.DONE, f"{what} approved: the rebalancer executes it"
    if status is ProposalStatus.DISMISSED:
        return OperatorResult.UNCHANGED, f"{what} was dismissed already{by}"
    if not status.is_open:
        return OperatorResult.FAILED, (
            f"{what} is {status.value}: its move is open or ended, it can no longer be "
            "dismissed (a stuck move says what to do on the moves list)"
        )
    return OperatorResult.DONE, f"{what} dismissed: it will not be executed"


async def _set_execution(
    api: RebalancingApi, who: Requester, asset: str | None, enabled: bool, note: str
) -> OperatorAction:
    target = asset or EVERY_ASSET
    async with api.unit():
        state = await api.view.execution_state()
        result, detail = _execution_outcome(state, asset, enabled)
        action = _action(api, who, _EXECUTION, target, note, result, detail)
        await api.actions.record(action)
        if result is OperatorResult.DONE:
            await api.view.repository.set_switch(asset, enabled, who.operator, action.created_at_ms)
    _log(action)
    return action


def _execution_outcome(
    state: ExecutionSwitches, asset: str | None, enabled: bool
) -> tuple[OperatorResult, str]:
    now = state.enabled_globally if asset is None else state.by_asset.get(asset, False)
    scope = "globally" if asset is None else f"for {asset}"
    word = "on" if enabled else "off"
    if now == enabled:
        return OperatorResult.UNCHANGED, f"execution was {word} {scope} already"
    if not enabled:
        return OperatorResult.DONE, (
            f"execution off {scope}: proposals wait for an operator's approval "
            "(a move already open goes on)"
        )
    if asset is None:
        on = sorted(a for a, enabled_ in state.by_asset.items() if enabled_)
        listed = ", ".join(on) or "none yet"
        return OperatorResult.DONE, (
            f"execution on globally: the assets switched on execute their proposals by "
            f"themselves ({listed})"
        )
    detail = f"execution on for {asset}: its proposals are executed without approval"
    if not state.enabled_globally:
        detail += " once the global switch is on too (it is off)"
    return OperatorResult.DONE, detail


def _action(
    api: RebalancingApi,
    who: Requester,
    kind: OperatorActionKind,
    target: str,
    note: str,
    result: OperatorResult,
    detail: str,
) -> OperatorAction:
    return OperatorAction(
        action_id=new_correlation_id(),
        created_at_ms=api.stamp(),
        operator=who.operator,
        action=kind,
        target=target,
        note=note,
        result=result,
        detail=detail,
        correlation_id=new_correlation_id(),
        client_address=who.client_address[:MAX_ID_CHARS],
    )


async def _announce(api: RebalancingApi, action: OperatorAction) -> None:
    """After the commit, as the other operator actions are announced; `hedging_paused` is
    the dealer's switch, which these actions do not touch (pages read it only from the
    dealer's actions)."""
    if api.bus is not None:
        await api.bus.publish(TOPIC_OPERATOR, encode_event(acted(action, paused=False)))


def _log(action: OperatorAction) -> None:
    log.info(
        "operator action",
        operator=action.operator,
        action=action.action.value,
        target=action.target,
        result=action.result.value,
        detail=action.detail,
        correlation_id=action.correlation_id,
    )


def _asset(value: object, known: list[str]) -> str | None:
    """The asset a switch is for, None for the global one."""
    expected = f"one of {', '.join(known) or 'no asset configured'}, or {EVERY_ASSET!r}"
    if not isinstance(value, str):
        got = "nothing" if value is None else type(value).__name__
        raise InvalidInput(f"asset must be text, {expected}; got {got}")
    name = value.strip()
    if name.lower() == EVERY_ASSET:
        return None
    if name.upper() not in known:
        raise InvalidInput(f"asset {value!r} is not rebalanced here: expected {expected}")
    return name.upper()


def _enabled(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"enabled must be true or false, got {value!r}")
    return value

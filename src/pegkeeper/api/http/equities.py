"""The tokenized-equity hedger over HTTP: positions, the fill-to-hedge trail, P&L, and the
operator's pause and resume (the same tokens, checks and audit trail as /api/v1/operator).

Routes: GET /api/v1/equities, GET /api/v1/equities/pnl, GET /api/v1/equities/{symbol}/fills,
POST /api/v1/equities/pause and /api/v1/equities/resume with {"symbol": ..., "note": ...}
(no symbol: every symbol). Without an equity hedger in this process the reads answer
`configured: false` (fills: 404) and the actions 409.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from pegkeeper.api.http.equities_json import fill_cover, overview, pnl_summary, switches_json
from pegkeeper.api.http.operator import OperatorAuth, action_body, authorised
from pegkeeper.api.http.serialize_web import operator_action
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
from pegkeeper.services.views.equities import MAX_FILLS, EquitiesView, SwitchBoard, UnknownSymbol
from pegkeeper.services.views.equities_figures import Switch, Switches

log = structlog.get_logger("pegkeeper.http")

EVERY_SYMBOL = "all"  # the audit target of a switch of every symbol (else the symbol)
NOT_RUNNING = "the equity hedger does not run in this process"


@dataclass
class EquitiesApi:
    view: EquitiesView
    actions: OperatorActionRepository  # the audit trail operator actions are written to
    clock: Clock
    bus: Bus | None = None  # operator actions are announced as the dealer's are

    _last_ms: int = field(default=0, init=False, repr=False)

    @property
    def acts(self) -> bool:
        return self.view.control is not None

    def stamp(self) -> int:
        """Now, but after the last action stamped here: the switches are restored in the
        order of these times, so two actions must never share one."""
        self._last_ms = max(self.clock.now_ms(), self._last_ms + 1)
        return self._last_ms


def equities_router(api: EquitiesApi | None, auth: OperatorAuth) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/equities")
    async def equities() -> dict[str, Any]:
        if api is None:
            return {"configured": False, "symbols": []}
        body = overview(await api.view.overview())
        return {"configured": True, "operator_actions": auth.enabled and api.acts, **body}

    @router.get("/api/v1/equities/pnl")
    async def pnl(max_points: int = Query(500, ge=2, le=2_000)) -> dict[str, Any]:
        if api is None:
            return {"configured": False}
        return {"configured": True, **pnl_summary(await api.view.pnl(max_points))}

    @router.get("/api/v1/equities/{symbol}/fills")
    async def fills(symbol: str, limit: int = Query(100, ge=1, le=MAX_FILLS)) -> dict[str, Any]:
        if api is None:
            raise HTTPException(404, f"no equity symbol {symbol!r}: {NOT_RUNNING}")
        try:
            covers = await api.view.fills(symbol.upper(), limit)
        except UnknownSymbol as error:
            raise HTTPException(404, str(error)) from None
        return {"symbol": symbol.upper(), "fills": [fill_cover(c) for c in covers]}

    async def act(request: Request, kind: OperatorActionKind) -> JSONResponse:
        who = authorised(request, auth, action=kind.value)
        if isinstance(who, JSONResponse):
            return who
        if api is None or api.view.control is None:
            return JSONResponse({"error": NOT_RUNNING}, 409)
        body = await action_body(request, '{"symbol": "AAPL", "note": "..."}')
        symbol = _symbol(body.get("symbol"), api.view.known_symbols())
        action = await _switch(api, api.view.control, kind, who, symbol, body.get("note"))
        answer = operator_action(action) | {"switches": switches_json(api.view.switches())}
        return JSONResponse(answer, status_code=200)

    @router.post("/api/v1/equities/pause")
    async def pause(request: Request) -> JSONResponse:
        return await act(request, OperatorActionKind.PAUSE_EQUITIES)

    @router.post("/api/v1/equities/resume")
    async def resume(request: Request) -> JSONResponse:
        return await act(request, OperatorActionKind.RESUME_EQUITIES)

    return router


def _symbol(value: object, known: list[str]) -> str | None:
    if value is None:
        return None
    expected = f"one of {', '.join(known)}, or no symbol for every one"
    if not isinstance(value, str):
        raise InvalidInput(f"symbol must be text ({expected}), got {type(value).__name__}")
    symbol = value.strip().upper()
    if symbol not in known:
        raise InvalidInput(f"symbol {value!r} is not a configured equity: expected {expected}")
    return symbol


async def _switch(
    api: EquitiesApi,
    control: SwitchBoard,
    kind: OperatorActionKind,
    who: Requester,
    symbol: str | None,
    note: object,
) -> OperatorAction:
    """Written to the audit trail before the switch moves, as the dealer's actions are; the
    switch board restores its switches from these records after a restart (so it is built
    not to write them itself: services.equities.control, `records_actions=False`)."""
    text = validate_note(note)
    pausing = kind is OperatorActionKind.PAUSE_EQUITIES
    result, detail = _outcome(Switches.of(control.state()), pausing, symbol)
    action = OperatorAction(
        action_id=new_correlation_id(),
        created_at_ms=api.stamp(),
        operator=who.operator,
        action=kind,
        target=target_of(symbol),
        note=text,
        result=result,
        detail=detail,
        correlation_id=new_correlation_id(),
        client_address=who.client_address[:128],
    )
    await api.actions.record(action)
    if result is OperatorResult.DONE:
        if pausing:
            await control.pause(symbol, who.operator, text)
        else:
            await control.resume(symbol, who.operator, text)
    log.info(
        "operator action",
        operator=who.operator,
        action=kind.value,
        target=action.target,
        result=result.value,
        detail=detail,
        correlation_id=action.correlation_id,
    )
    if api.bus is not None:
        paused = Switches.of(control.state()).all_symbols.paused  # the equities' global switch
        await api.bus.publish(TOPIC_OPERATOR, encode_event(acted(action, paused)))
    return action


def _outcome(switches: Switches, pausing: bool, symbol: str | None) -> tuple[OperatorResult, str]:
    switch = switches.all_symbols if symbol is None else switches.symbols.get(symbol, Switch())
    scope = "every symbol" if symbol is None else symbol
    if pausing and switch.paused:
        return OperatorResult.UNCHANGED, f"{scope} already paused by {switch.by or 'an operator'}"
    if pausing:
        return OperatorResult.DONE, f"{scope} paused: no broker order is sent until resumed"
    if not switch.paused:
        return OperatorResult.UNCHANGED, f"{scope} was not paused"
    detail = f"{scope} resumed: the hedger decides again at its next check"
    if symbol is not None and switches.all_symbols.paused:
        detail += " (every symbol stays paused by the global switch)"
    return OperatorResult.DONE, detail


def target_of(symbol: str | None) -> str:
    """The audit target of an equity switch: the symbol, or "all" (the switch board restores
    its switches from the records with these targets)."""
    return EVERY_SYMBOL if symbol is None else symbol

"""Operator actions over HTTP: pause and resume hedging, close the position, acknowledge an
alert. Each needs `Authorization: Bearer <token>` with a token from the configuration, from
this site, with a JSON body (api.http.guard: safe against cross-site request forgery).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pegkeeper.api.http.guard import BearerAuth, Refused, json_object, require_json
from pegkeeper.api.http.serialize import hedging_state
from pegkeeper.api.http.serialize_web import operator_action
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.operator import OperatorAction, OperatorResult
from pegkeeper.services.hedging.operator import OperatorService, Requester

log = structlog.get_logger("pegkeeper.http")

CLOSE_CONFIRMATION = "close-position"
_STATUS = {
    OperatorResult.DONE: 200,
    OperatorResult.UNCHANGED: 200,
    OperatorResult.RECORDED: 200,
    OperatorResult.UNCERTAIN: 202,
    OperatorResult.FAILED: 409,
}


class OperatorAuth(BearerAuth):
    """Operator name -> token (PEGKEEPER_WEB__OPERATOR_TOKENS)."""

    def __init__(self, tokens: dict[str, str]) -> None:
        super().__init__(tokens, "operator", "operator actions", "PEGKEEPER_WEB__OPERATOR_TOKENS")

    def who(self, request: Request) -> Requester:
        """The operator the request's token belongs to; raises Refused (401/403)."""
        name = self.name(request)
        client = request.client.host if request.client else ""
        return Requester(operator=name, client_address=client)


def operator_router(service: OperatorService | None, auth: OperatorAuth) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/operator")
    async def state(limit: int = 20) -> dict[str, Any]:
        actions = await service.recent(max(1, min(limit, 200))) if service else []
        return {
            "operator_actions_enabled": auth.enabled and service is not None,
            "hedging": hedging_state(service.control.state) if service else None,
            "actions": [operator_action(a) for a in actions],
        }

    @router.get("/api/v1/operator/whoami")
    async def whoami(request: Request) -> JSONResponse:
        who = authorised(request, auth)
        if isinstance(who, JSONResponse):
            return who
        return JSONResponse({"operator": who.operator})

    async def act(request: Request, name: str, call: _Call) -> JSONResponse:
        who = authorised(request, auth, action=name)
        if isinstance(who, JSONResponse):
            return who
        if service is None:
            return JSONResponse({"error": "the hedger does not run in this process"}, 409)
        action = await call(service, who, await action_body(request))
        return JSONResponse(operator_action(action), status_code=_STATUS[action.result])

    @router.post("/api/v1/operator/hedging/pause")
    async def pause(request: Request) -> JSONResponse:
        return await act(request, "hedging.pause", _pause)

    @router.post("/api/v1/operator/hedging/resume")
    async def resume(request: Request) -> JSONResponse:
        return await act(request, "hedging.resume", _resume)

    @router.post("/api/v1/operator/position/close")
    async def close(request: Request) -> JSONResponse:
        return await act(request, "position.close", _close)

    @router.post("/api/v1/operator/alerts/{alert_id}/acknowledge")
    async def acknowledge(request: Request, alert_id: str) -> JSONResponse:
        async def call(
            svc: OperatorService, who: Requester, body: dict[str, Any]
        ) -> OperatorAction:
            return await svc.acknowledge_alert(who, alert_id, body.get("note"))

        return await act(request, "alert.acknowledge", call)

    return router


_Call = Callable[[OperatorService, Requester, dict[str, Any]], Awaitable[OperatorAction]]


async def _pause(service: OperatorService, who: Requester, body: dict[str, Any]) -> OperatorAction:
    return await service.pause(who, body.get("note"))


async def _resume(service: OperatorService, who: Requester, body: dict[str, Any]) -> OperatorAction:
    return await service.resume(who, body.get("note"))


async def _close(service: OperatorService, who: Requester, body: dict[str, Any]) -> OperatorAction:
    if body.get("confirm") != CLOSE_CONFIRMATION:
        raise InvalidInput(
            f'closing the position needs {{"confirm": "{CLOSE_CONFIRMATION}"}} in the body'
        )
    return await service.close_position(who, body.get("note"))


def authorised(request: Request, auth: OperatorAuth, action: str = "") -> Requester | JSONResponse:
    try:
        return auth.who(request)
    except Refused as refusal:
        client = request.client.host if request.client else ""
        log.warning("operator request refused", action=action, reason=str(refusal), client=client)
        headers = {"WWW-Authenticate": 'Bearer realm="pegkeeper operator"'}
        return JSONResponse(
            {"error": str(refusal)},
            status_code=refusal.status,
            headers=headers if refusal.status == 401 else None,
        )


async def action_body(request: Request, example: str = '{"note": "..."}') -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        require_json(request)
        return json_object(raw, example)
    except (Refused, ValueError) as error:
        raise InvalidInput(str(error)) from None

"""The operator's action on the funding manager's money: POST
/api/v1/funding/operations/{operation_id}/settle settles a deposit it holds (its send had no
answer and the wallet showed none), with the operator token, checks and audit trail of
/api/v1/operator (services/collateral/held.py says how it is made safe beside the funding
manager's lease holder).

Body: {"outcome": "not-sent"} (the wallet never sent it: it fails and deposits resume; refused
while the wallet shows it sent) or {"outcome": "sent", "tx_id": "<64 hex>"} (pending again with
that transaction, followed to its arrival), with an optional "note". 200 when settled; 409
naming the operation's state when it is not held, or the transaction the wallet shows, or when
it changed meanwhile; 404 for an unknown operation; 400 for a body that is not what it should
be; 503 when the wallet cannot be asked. Without the funding manager configured here: 409.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pegkeeper.api.http.funding import operation
from pegkeeper.api.http.operator import OperatorAuth, action_body, authorised
from pegkeeper.api.http.serialize_web import operator_action
from pegkeeper.domain.collateral import settlement_of
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.operator import OperatorResult, validate_note
from pegkeeper.services.collateral.held import SETTLE, HeldDeposits, UnknownOperation

NOT_CONFIGURED = "the funding manager is not configured in this process ([funding] enabled)"
EXAMPLE = '{"outcome": "not-sent" or "sent", "tx_id": "<with sent>", "note": "..."}'
FIELDS = ("outcome", "tx_id", "note")


def funding_actions_router(held: HeldDeposits | None, auth: OperatorAuth) -> APIRouter:
    router = APIRouter()

    @router.post("/api/v1/funding/operations/{operation_id}/settle")
    async def settle(request: Request, operation_id: str) -> JSONResponse:
        who = authorised(request, auth, action=SETTLE.value)
        if isinstance(who, JSONResponse):
            return who
        if held is None:
            return JSONResponse({"error": NOT_CONFIGURED}, 409)
        try:
            body = await action_body(request, EXAMPLE)
            settlement, tx_id = settlement_of(*_fields(body))
            note = validate_note(body.get("note"))
        except InvalidInput as error:
            return JSONResponse({"error": f"{error}; expected {EXAMPLE}"}, 400)
        try:
            settled = await held.settle(who, operation_id, settlement, tx_id, note)
        except UnknownOperation as error:
            return JSONResponse({"error": str(error)}, 404)
        answer = operator_action(settled.action) | {"operation": operation(settled.operation)}
        if settled.action.result is OperatorResult.DONE:
            return JSONResponse(answer, 200)
        status = 503 if settled.wallet_unavailable else 409
        return JSONResponse(answer | {"error": settled.action.detail}, status)

    return router


def _fields(body: dict[str, Any]) -> tuple[object, object]:
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}: the fields are {', '.join(FIELDS)}")
    return body.get("outcome"), body.get("tx_id")

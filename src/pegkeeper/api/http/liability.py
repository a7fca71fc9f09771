"""POST /api/v1/liability/events: a change of the liability from the wallet's ledger, when the
HTTP source is the liability's source (`[ledger] source = "http"`).

It moves real hedges, so it takes JSON only, from this site only (api.http.guard), and a
service token (`Authorization: Bearer`, PEGKEEPER_WEB__SERVICE_TOKENS) whenever tokens are
configured or the server listens beyond this machine. While another source (Galoy, a
PostgreSQL query) keeps the liability, the endpoint answers 409 and writes nothing.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pegkeeper.api.http import serialize
from pegkeeper.api.http.guard import (
    BearerAuth,
    Refused,
    is_loopback,
    json_object,
    require_json,
    same_site,
)
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.liability import EVENT_ID_PATTERN
from pegkeeper.services.ledger.liability import LiabilityService

log = structlog.get_logger("pegkeeper.http")

PATH = "/api/v1/liability/events"
HTTP_SOURCE = "http"
EXAMPLE = '{"id": "...", "delta_cents": 100}'


class MalformedRequest(InvalidInput):
    """The body could not be read as the JSON object the endpoint takes."""


class ServiceAuth(BearerAuth):
    """The programs that post liability changes (PEGKEEPER_WEB__SERVICE_TOKENS)."""

    def __init__(self, tokens: dict[str, str], listen_host: str) -> None:
        super().__init__(tokens, "service", "liability changes", "PEGKEEPER_WEB__SERVICE_TOKENS")
        self.listen_host = listen_host
        self.required = bool(tokens) or not is_loopback(listen_host)

    def check(self, request: Request) -> None:
        """Raises Refused: a cross-site request always; without a valid token when needed."""
        if self.required:
            self.name(request)  # checks the site first
        else:
            same_site(request)


def liability_router(
    liability: LiabilityService, auth: ServiceAuth, source: str = HTTP_SOURCE
) -> APIRouter:
    router = APIRouter()

    @router.post(
        PATH,
        status_code=201,
        summary="Post a change of the liability",
        openapi_extra={"requestBody": REQUEST_BODY},
        responses=ANSWERS,
    )
    async def post_liability_event(request: Request) -> JSONResponse:
        try:
            auth.check(request)
            if source != HTTP_SOURCE:
                raise Refused(
                    409,
                    f"the liability comes from the {source} source ([ledger] source = "
                    f'"{source}"): POST {PATH} is off',
                )
            require_json(request)
        except Refused as refusal:
            client = request.client.host if request.client else ""
            log.warning("liability post refused", reason=str(refusal), client=client)
            return JSONResponse({"error": str(refusal)}, status_code=refusal.status)
        try:
            body = json_object(await request.body(), EXAMPLE)
        except ValueError as error:
            raise MalformedRequest(str(error)) from None
        result = await liability.post(
            body.get("id"), body.get("delta_cents"), body.get("memo", ""), source="api"
        )
        status = 201 if result.created else 200
        return JSONResponse(serialize.liability_event(result.event), status_code=status)

    return router


_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "what was wrong"}},
    "required": ["error"],
}
_EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "seq": {"type": "integer", "description": "the event's place in the ledger"},
        "delta_cents": {"type": "integer"},
        "liability_cents": {"type": "integer", "description": "the liability after it"},
        "memo": {"type": "string"},
        "source": {"type": "string"},
        "correlation_id": {"type": "string", "description": "its audit trail"},
        "created_at_ms": {"type": "integer"},
    },
    "required": ["id", "seq", "delta_cents", "liability_cents", "correlation_id"],
}
REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "id": {
                        "type": "string",
                        "pattern": EVENT_ID_PATTERN.pattern,
                        "description": "the change's id: the same id is the same change",
                    },
                    "delta_cents": {
                        "type": "integer",
                        "not": {"const": 0},
                        "description": "USD cents the users' synthetic USD grows (or shrinks, "
                        "negative); at most liability.max_abs_delta_cents either way",
                    },
                    "memo": {"type": "string", "maxLength": 500, "default": ""},
                },
                "required": ["id", "delta_cents"],
                "additionalProperties": True,
            },
            "example": {"id": "trade-42", "delta_cents": 12345, "memo": "user buys 123.45 USD"},
        }
    },
}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ANSWERS: dict[int | str, dict[str, Any]] = {
    201: _answer("appended: the event, with the liability after it", _EVENT),
    200: _answer("the same id was posted before with the same change: the event as it is", _EVENT),
    400: _answer("the body is not a JSON object", _ERROR),
    401: _answer("a service token is needed (Authorization: Bearer <service token>)", _ERROR),
    403: _answer("a cross-site request, a token not valid, or no tokens configured", _ERROR),
    409: _answer(
        "refused by the ledger (the id was posted with another change; the liability would "
        "go below 0), or another liability source is active",
        _ERROR,
    ),
    415: _answer("the body is not declared application/json", _ERROR),
    422: _answer("a field is missing or wrong (the error names it and what is expected)", _ERROR),
    503: _answer("temporarily unavailable: retry with the same id", _ERROR),
}

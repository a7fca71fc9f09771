"""The HTTP API: liability events in, dealer state out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from pegkeeper import __version__
from pegkeeper.api.http import serialize
from pegkeeper.api.http.docs import add_offline_docs
from pegkeeper.api.http.liability import (
    HTTP_SOURCE,
    MalformedRequest,
    ServiceAuth,
    liability_router,
)
from pegkeeper.api.http.probes import Probes, probes_router
from pegkeeper.api.http.tracing import TELEMETRY
from pegkeeper.domain.errors import ConflictError, InvalidInput
from pegkeeper.domain.processes import ProcessInfo
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.views.dealer import DealerView
from pegkeeper.services.views.health import LeaseSource

log = structlog.get_logger("pegkeeper.http")


@dataclass(frozen=True, slots=True)
class ApiContext:
    liability: LiabilityService
    dealer: DealerView
    readiness: Callable[[], Awaitable[dict[str, str]]]  # service -> "ready" or the reason not
    pegs: APIRouter | None = None  # prices and pegs, when the peg monitor runs
    quote: APIRouter | None = None  # the price service's numbers, GET /api/v1/quote
    extend: Callable[[FastAPI], None] | None = None  # the dashboard, metrics, operator actions
    funding: APIRouter | None = None  # the funding manager, GET /api/v1/funding
    allocation: APIRouter | None = None  # the legs and their weights, GET /api/v1/allocation
    # who may post liability changes; by default anyone on this machine, from this site
    service_auth: ServiceAuth = field(default_factory=lambda: ServiceAuth({}, "127.0.0.1"))
    liability_source: str = HTTP_SOURCE  # [ledger] source: another one switches the post off
    process: ProcessInfo | None = None  # who this process is, in /readyz
    leases: LeaseSource = list  # its leases, in /readyz


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="pegkeeper",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        telemetry=TELEMETRY,
    )
    add_offline_docs(app)

    @app.exception_handler(InvalidInput)
    async def invalid_input(_: Request, error: InvalidInput) -> JSONResponse:
        status = 400 if isinstance(error, MalformedRequest) else 422
        return JSONResponse({"error": str(error)}, status_code=status)

    @app.exception_handler(ConflictError)
    async def conflict(_: Request, error: ConflictError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=409)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        # Each write is one transaction, so a request that failed here left nothing half done;
        # retrying with the same id is safe because posting is idempotent.
        log.error("request failed", error_type=type(error).__name__, error=str(error))
        return JSONResponse(
            {"error": f"temporarily unavailable ({type(error).__name__}); retry with the same id"},
            status_code=503,
        )

    app.include_router(probes_router(Probes(context.readiness, context.process, context.leases)))

    @app.get("/api/v1/liability")
    async def get_liability(limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
        events = await context.liability.recent(limit)
        return {
            "liability_cents": await context.liability.balance_cents(),
            "events": [serialize.liability_event(e) for e in events],
        }

    @app.get("/api/v1/dealer")
    async def get_dealer() -> dict[str, Any]:
        return serialize.dealer(await context.dealer.status())

    @app.get("/api/v1/orders")
    async def get_orders(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        views = await context.dealer.orders(limit)
        return {"orders": [serialize.order(v) for v in views]}

    app.include_router(
        liability_router(context.liability, context.service_auth, context.liability_source)
    )
    if context.pegs is not None:
        app.include_router(context.pegs)
    if context.quote is not None:
        app.include_router(context.quote)
    if context.extend is not None:
        context.extend(app)
    if context.funding is not None:
        app.include_router(context.funding)
    if context.allocation is not None:
        app.include_router(context.allocation)
    return app

"""The dashboard's pages: HTML shells rendered from templates; the data comes from the JSON API
and the live event stream, so a page never needs a reload."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pegkeeper import __version__
from pegkeeper.api.web import TEMPLATES_DIR
from pegkeeper.domain.orders import CLIENT_ID_PATTERN

NAV = (
    ("overview", "/", "Overview"),
    ("pegs", "/pegs", "Pegs"),
    ("orders", "/orders", "Orders & transfers"),
    ("quotes", "/quotes", "Quotes"),
    ("equities", "/equities", "Equities"),
    ("rebalancing", "/equities/rebalancing", "Rebalancing"),
    ("pnl", "/pnl", "P&L"),
)


@dataclass(frozen=True, slots=True)
class PageSettings:
    heartbeat_ms: int
    symbols: list[str]
    instrument_id: str
    brackets: dict[str, str] = field(default_factory=dict)
    minimum_liability_cents: int = 0  # below it the policy keeps no hedge
    # the funding policy's bounds: outside them the leverage is red (the policy acts)
    leverage_bounds: dict[str, str] = field(default_factory=lambda: {"low": "2", "high": "4"})
    liquidation_floor_pct: str = "20"  # [alerts] liquidation_distance_floor_pct: red below it
    operator_actions: bool = False  # tokens configured and a hedger to act on
    demo: bool = False


def pages_router(settings: PageSettings) -> APIRouter:
    router = APIRouter()
    templates = Jinja2Templates(directory=TEMPLATES_DIR)

    def render(request: Request, page: str, title: str, **extra: Any) -> HTMLResponse:
        config = {
            "page": page,
            "heartbeat_ms": settings.heartbeat_ms,
            "symbols": settings.symbols,
            "instrument_id": settings.instrument_id,
            "brackets": settings.brackets,
            "minimum_liability_cents": settings.minimum_liability_cents,
            "leverage_bounds": settings.leverage_bounds,
            "liquidation_floor_pct": settings.liquidation_floor_pct,
            "operator_actions": settings.operator_actions,
            **extra,
        }
        context = {
            "page": page,
            "title": title,
            "nav": NAV,
            "version": __version__,
            "demo": settings.demo,
            "config": config,
            **extra,
        }
        return templates.TemplateResponse(request, f"{page}.html", context)

    @router.get("/", response_class=HTMLResponse)
    async def overview(request: Request) -> HTMLResponse:
        return render(request, "overview", "Overview")

    @router.get("/pegs", response_class=HTMLResponse)
    async def pegs(request: Request) -> HTMLResponse:
        return render(request, "pegs", "Pegs")

    @router.get("/orders", response_class=HTMLResponse)
    async def orders(request: Request) -> HTMLResponse:
        return render(request, "orders", "Orders & transfers")

    @router.get("/orders/{client_order_id}", response_class=HTMLResponse)
    async def order(request: Request, client_order_id: str) -> HTMLResponse:
        if not CLIENT_ID_PATTERN.match(client_order_id):
            raise HTTPException(404, "no such order")
        return render(request, "audit", "Order", order_id=client_order_id, correlation_id=None)

    @router.get("/audit/{correlation_id}", response_class=HTMLResponse)
    async def audit(request: Request, correlation_id: str) -> HTMLResponse:
        if not correlation_id.isalnum() or len(correlation_id) > 128:
            raise HTTPException(404, "no such correlation id")
        return render(request, "audit", "Audit trail", order_id=None, correlation_id=correlation_id)

    @router.get("/quotes", response_class=HTMLResponse)
    async def quotes(request: Request) -> HTMLResponse:
        return render(request, "quotes", "Quotes")

    @router.get("/equities", response_class=HTMLResponse)
    async def equities(request: Request) -> HTMLResponse:
        return render(request, "equities", "Equities")

    @router.get("/equities/rebalancing", response_class=HTMLResponse)
    async def rebalancing(request: Request) -> HTMLResponse:
        return render(request, "rebalancing", "Rebalancing")

    @router.get("/pnl", response_class=HTMLResponse)
    async def pnl(request: Request) -> HTMLResponse:
        return render(request, "pnl", "P&L")

    return router

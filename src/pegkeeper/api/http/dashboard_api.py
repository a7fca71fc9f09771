"""The dashboard's data: the book over time, orders with their causes, audit trails, quotes,
P&L, health, and the place where the funding manager's transfers plug in (the equity hedger
has its own routes: api/http/equities.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from pegkeeper.api.http import serialize, serialize_web
from pegkeeper.domain.collateral import OperationRecord
from pegkeeper.domain.orders import CLIENT_ID_PATTERN
from pegkeeper.ports import Clock
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.market.peg_monitor import PegMonitor
from pegkeeper.services.views.dashboard import DashboardView

WINDOWS_MS = {
    "15m": 15 * 60_000,
    "1h": 3_600_000,
    "6h": 6 * 3_600_000,
    "24h": 86_400_000,
    "7d": 7 * 86_400_000,
    "30d": 30 * 86_400_000,
}
MAX_POINTS = 2_000
# Transfers between accounts and onchain, newest first (the funding manager's).
TransferSource = Callable[[int], Awaitable[list[OperationRecord]]]


@dataclass
class DashboardData:
    view: DashboardView
    readiness: Callable[[], Awaitable[dict[str, str]]]
    wall_clock: Clock  # the viewer's time: health ages
    brackets: dict[str, Decimal] = field(default_factory=dict)
    control: HedgeControl | None = None
    pegs: PegMonitor | None = None
    pegs_clock: Clock | None = None
    transfers: TransferSource | None = None


def dashboard_router(data: DashboardData) -> APIRouter:
    router = APIRouter()
    view = data.view

    @router.get("/api/v1/overview")
    async def overview() -> dict[str, Any]:
        status = await view.dealer.status()
        body = serialize.dealer(status)
        p = status.position
        risk = status.risk
        body["liquidation_distance"] = serialize.dec(risk.liquidation_distance if risk else None)
        body["collateral_available_btc"] = serialize.dec(p.collateral_available) if p else None
        body["brackets"] = {k: str(v) for k, v in data.brackets.items()}
        body["hedging"] = serialize.hedging_state(data.control.state) if data.control else None
        body["now_ms"] = view.now_ms()
        return body

    @router.get("/api/v1/dealer/history")
    async def history(
        window: str = Query("24h"), max_points: int = Query(500, ge=2, le=MAX_POINTS)
    ) -> dict[str, Any]:
        points = await view.history(_window(window), max_points)
        return {"window": window, "points": [serialize_web.history_point(p) for p in points]}

    @router.get("/api/v1/orders/{client_order_id}")
    async def order_detail(client_order_id: str) -> dict[str, Any]:
        if not CLIENT_ID_PATTERN.match(client_order_id):
            raise HTTPException(422, "a client order id is 1 to 32 letters or digits")
        detail = await view.order(client_order_id)
        if detail is None:
            raise HTTPException(404, f"no order with client id {client_order_id}")
        return serialize_web.order_detail(detail)

    @router.get("/api/v1/dashboard/orders")
    async def orders(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return {"orders": [serialize_web.order_row(r) for r in await view.orders(limit)]}

    @router.get("/api/v1/audit/{correlation_id}")
    async def audit(correlation_id: str) -> dict[str, Any]:
        if not 1 <= len(correlation_id) <= 128 or not correlation_id.isalnum():
            raise HTTPException(422, "a correlation id is 1 to 128 letters or digits")
        trail = await view.trail(correlation_id)
        if trail.empty:
            raise HTTPException(404, f"nothing recorded under correlation id {correlation_id}")
        return serialize_web.trail(trail)

    @router.get("/api/v1/quotes")
    async def quotes(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return {"quotes": [serialize_web.quote(q) for q in await view.quotes(limit)]}

    @router.get("/api/v1/pnl")
    async def pnl(
        window: str = Query("24h"), max_points: int = Query(500, ge=2, le=MAX_POINTS)
    ) -> dict[str, Any]:
        report = await view.pnl(_window(window), max_points)
        return {"window": window, **serialize_web.pnl(report)}

    @router.get("/api/v1/transfers")
    async def transfers(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        if data.transfers is None:
            return {"available": False, "transfers": []}
        records = await data.transfers(limit)
        return {"available": True, "transfers": [serialize_web.transfer(r) for r in records]}

    @router.get("/api/v1/alerts")
    async def alerts(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return {"alerts": [serialize_web.alert(a) for a in await view.alerts(limit)]}

    @router.get("/api/v1/health")
    async def health() -> dict[str, Any]:
        return await health_summary(data)

    return router


async def health_summary(data: DashboardData) -> dict[str, Any]:
    """Services and sources as the page shows them; 200 whatever the state (/readyz is the
    probe for machines)."""
    services = await data.readiness()
    sources = []
    if data.pegs is not None:
        now_ms = (data.pegs_clock or data.wall_clock).now_ms()
        sources = [
            {
                "exchange": top.exchange,
                "market": top.pair,
                "age_ms": max(now_ms - received_ms, 0),
                "stale": top.stale,
            }
            for top, received_ms in data.pegs.quotes()
        ]
        sources.sort(key=lambda s: (s["exchange"], s["market"]))
    return {
        "ts_ms": data.wall_clock.now_ms(),
        "dealer_now_ms": data.view.now_ms(),
        "ready": all(state == "ready" for state in services.values()),
        "services": services,
        "sources": sources,
        "hedging": serialize.hedging_state(data.control.state) if data.control else None,
    }


def _window(name: str) -> int:
    if name not in WINDOWS_MS:
        raise HTTPException(422, f"window must be one of {', '.join(WINDOWS_MS)}, got {name!r}")
    return WINDOWS_MS[name]

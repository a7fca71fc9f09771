"""The web dashboard on pegkeeper's own HTTP server: pages, static assets, the live event
stream, the dashboard's data, operator actions (the dealer's, the funding manager's, the
equities') and `/metrics`."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from pegkeeper.api.http.cluster import cluster_router
from pegkeeper.api.http.dashboard_api import DashboardData, dashboard_router
from pegkeeper.api.http.equities import EquitiesApi, equities_router
from pegkeeper.api.http.events import EventStream, events_router
from pegkeeper.api.http.funding_actions import funding_actions_router
from pegkeeper.api.http.operator import OperatorAuth, operator_router
from pegkeeper.api.http.pages import PageSettings, pages_router
from pegkeeper.api.http.probes import metrics_router
from pegkeeper.api.http.rebalancing import RebalancingApi, rebalancing_router
from pegkeeper.api.metrics import Metrics
from pegkeeper.api.web import STATIC_DIR
from pegkeeper.services.collateral.held import HeldDeposits
from pegkeeper.services.hedging.operator import OperatorService
from pegkeeper.services.views.cluster import ClusterView

QUOTE_PATH = "/api/v1/quote"


@dataclass
class Dashboard:
    data: DashboardData
    events: EventStream
    pages: PageSettings
    auth: OperatorAuth
    operator: OperatorService | None = None
    metrics: Metrics | None = None
    equities: EquitiesApi | None = None  # None: `configured: false` (no equity hedger here)
    cluster: ClusterView | None = None  # the processes and leases, GET /api/v1/cluster
    rebalancing: RebalancingApi | None = None  # None: `configured: false` (no rebalancing here)
    held_deposits: HeldDeposits | None = None  # None: no funding manager configured here

    def install(self, app: FastAPI) -> None:
        app.include_router(dashboard_router(self.data))
        app.include_router(operator_router(self.operator, self.auth))
        app.include_router(rebalancing_router(self.rebalancing, self.auth))
        app.include_router(funding_actions_router(self.held_deposits, self.auth))
        app.include_router(equities_router(self.equities, self.auth))
        app.include_router(events_router(self.events))
        app.include_router(pages_router(self.pages))
        if self.cluster is not None:
            app.include_router(cluster_router(self.cluster))
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
        if self.metrics is not None:
            app.include_router(metrics_router(self.metrics))
            app.add_middleware(QuoteTimer, metrics=self.metrics)


class QuoteTimer:
    """Pure ASGI (a streaming response passes through untouched): times GET /api/v1/quote."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != QUOTE_PATH:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self._app(scope, receive, send)
        finally:
            self._metrics.observe_quote("http", time.perf_counter() - started)

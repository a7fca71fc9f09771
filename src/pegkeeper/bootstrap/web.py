"""Wiring of the HTTP server: the API, the dashboard, metrics, readiness checks."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import uvicorn

from pegkeeper.adapters.clock import RealClock
from pegkeeper.api.http.allocation import allocation_router
from pegkeeper.api.http.app import ApiContext, create_app
from pegkeeper.api.http.dashboard import Dashboard
from pegkeeper.api.http.dashboard_api import DashboardData, health_summary
from pegkeeper.api.http.equities import EquitiesApi
from pegkeeper.api.http.events import EventStream
from pegkeeper.api.http.funding import funding_router
from pegkeeper.api.http.liability import ServiceAuth
from pegkeeper.api.http.operator import OperatorAuth
from pegkeeper.api.http.pages import PageSettings
from pegkeeper.api.http.pegs import pegs_router
from pegkeeper.api.http.probes import Probes
from pegkeeper.api.http.quote import quote_router
from pegkeeper.api.http.rebalancing import RebalancingApi
from pegkeeper.api.metrics import Metrics, MetricSources
from pegkeeper.bootstrap.carry import allocation_view
from pegkeeper.bootstrap.cluster import funding_lease, hedger_lease
from pegkeeper.bootstrap.collateral import allocation_of
from pegkeeper.bootstrap.equities import EquitySetup, equities_check
from pegkeeper.bootstrap.logging_setup import PROBLEMS
from pegkeeper.bootstrap.rebalancing import rebalancer_check, rebalancer_settings
from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.venue import PRIMARY_VENUE
from pegkeeper.services.collateral.held import HeldDeposits
from pegkeeper.services.hedging.hedger import HedgerService
from pegkeeper.services.process_heartbeat import (
    DEFAULT_INTERVAL_SECONDS as HEARTBEAT_INTERVAL_SECONDS,
)
from pegkeeper.services.views.cluster import ClusterView
from pegkeeper.services.views.dashboard import DashboardView
from pegkeeper.services.views.equities import EquitiesView
from pegkeeper.services.views.health import (
    READY,
    Check,
    HealthMonitor,
    LeaseSource,
    order_wait_state,
)
from pegkeeper.services.views.rebalancing import RebalancingView

if TYPE_CHECKING:
    from pegkeeper.bootstrap.runtime import Runtime

SHUTDOWN_GRACE_SECONDS = 2  # open event streams are closed after this on shutdown

# Each task of `pegkeeper run` and the service whose health it is part of.
JOB_SERVICES = {
    "sim-prices": "hedger",
    "demo-flow": "liability",
    "okx-books": "market-data",
    "bus-books": "price-server",
    "market-replay": "peg-monitor",
    "peg-recorder": "peg-monitor",
}


@dataclass
class WebSetup:
    server: uvicorn.Server
    metrics: Metrics
    dashboard: Dashboard


async def serve_web(web: WebSetup, sockets: list[socket.socket]) -> None:
    await serve_http(web.server, sockets)


async def serve_http(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
    """Serves on the bound sockets; cancelled (Ctrl-C, SIGTERM), the server shuts down
    gracefully first: streams closed, the application's shutdown run."""
    serving = asyncio.ensure_future(server.serve(sockets=sockets))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise


def brackets(runtime: Runtime) -> dict[str, Decimal]:
    p = runtime.settings.hedger.stablesats
    return {
        "low": p.low_bound_ratio_shorting,
        "low_safe": p.low_safebound_ratio_shorting,
        "high_safe": p.high_safebound_ratio_shorting,
        "high": p.high_bound_ratio_shorting,
    }


def build_health(runtime: Runtime, services: list[str]) -> HealthMonitor:
    health = HealthMonitor(services)
    if "hedger" in services:
        several = len(runtime.venues) > 1
        health.watch("hedger", _hedgers_check(runtime, None, several))
        for name in runtime.venues if several else ():
            health.watch(f"venue {name}", _hedgers_check(runtime, name, several))
    funding = runtime.funding
    if "funding" in services and funding is not None:

        async def funding_ready() -> str:
            acting = [
                service
                for service in funding.services
                if not runtime.cluster.standby(
                    funding_lease(service.settings.currency, service.settings.venue_name)
                )
            ]
            ready = all(service.ready.is_set() for service in acting)
            return READY if ready else "starting: waiting for the venue"

        health.watch("funding", funding_ready)
    if "price-server" in services:
        pricer = runtime.pricing.pricer

        async def book_fresh() -> str:
            status = pricer.status()
            return READY if status.fresh else status.detail

        health.watch("price-server", book_fresh)
    live = runtime.pricing.live_books
    if "market-data" in services and live is not None:

        async def books_fresh() -> str:
            problems = {i: h for i, h in live.health().items() if h != "ok"}
            return "; ".join(f"{i}: {h}" for i, h in problems.items()) or READY

        health.watch("market-data", books_fresh)
    if "peg-monitor" in services:
        expects_prices = "quote-feeds" in services or runtime.market_replay is not None
        health.watch("peg-monitor", _pegs_check(runtime, expects_prices))
    if "equity-hedger" in services and isinstance(runtime.equities, EquitySetup):
        health.watch("equity-hedger", equities_check(runtime.equities))
    if "rebalancer" in services and runtime.rebalancer is not None:
        health.watch("rebalancer", rebalancer_check(runtime.rebalancer))
    if runtime.ledger.source != "http":
        gate = runtime.ledger.gate

        async def ledger_read() -> str:
            readiness = await gate.readiness()
            return READY if readiness.ready else readiness.reason

        health.watch("ledger", ledger_read)
    return health


def _hedgers_check(runtime: Runtime, venue: str | None, several: bool) -> Check:
    """Whether the hedgers (of every leg, or of the legs on `venue`) are ready; with several
    venues the reasons name the venue."""
    web, cluster = runtime.settings.web, runtime.cluster
    venue_of = {leg.instrument_id: leg.venue for leg in allocation_of(runtime.settings).legs}

    def where(hedgers: list[HedgerService]) -> str:
        names = dict.fromkeys(venue_of.get(h.instrument_id, PRIMARY_VENUE) for h in hedgers)
        return ", ".join(names) if several else "the venue"

    async def hedgers_ready() -> str:
        # a standby's leg is another process's job: it is ready by waiting
        hedgers = [
            h
            for h in runtime.hedgers
            if not cluster.standby(hedger_lease(h.instrument_id))
            and venue in (None, venue_of.get(h.instrument_id, PRIMARY_VENUE))
        ]
        starting = [hedger for hedger in hedgers if not hedger.ready.is_set()]
        if starting:
            return f"starting: reconciling with {where(starting)}"
        failures = max((hedger.consecutive_failures for hedger in hedgers), default=0)
        if failures >= web.venue_failures_not_ready:
            failing = [h for h in hedgers if h.consecutive_failures == failures]
            unreachable = f"venue {where(failing)}" if several else "venue"
            return (
                f"{unreachable} unreachable: the last {failures} hedge cycles failed (see the log)"
            )
        for hedger in hedgers:
            waited = hedger.hedge.order_waited_on()
            if waited is not None:
                order, seconds = waited
                limit = hedger.hedge.longest_order_wait_seconds
                state = order_wait_state(
                    order.intent.client_order_id, order.state.value, seconds, limit
                )
                if state != READY:
                    return state
        return READY

    return hedgers_ready


def _pegs_check(runtime: Runtime, expects_prices: bool) -> Check:
    pegs = runtime.pegs

    async def prices_fresh() -> str:
        quotes = pegs.quotes()
        if not quotes:
            return "waiting for the first prices" if expects_prices else READY
        stale = [top for top, _ in quotes if top.stale]
        if len(stale) == len(quotes):
            return f"every source is stale ({len(quotes)} sources)"
        return READY

    return prices_fresh


def build_metrics(
    runtime: Runtime,
    services: list[str],
    health: HealthMonitor,
    leases: LeaseSource = list,
) -> Metrics:
    """The process's metrics, one set whichever port serves them (web, ops or both)."""
    equities = runtime.equities
    return Metrics(
        MetricSources(
            dealer=runtime.dealer,
            clock=runtime.clock,
            readiness=health.readiness,
            control=runtime.control if "hedger" in services else None,
            pegs=runtime.pegs if "peg-monitor" in services else None,
            pegs_clock=runtime.market_clock,
            pricer=runtime.pricing.pricer if "price-server" in services else None,
            brackets=brackets(runtime),
            bus_messages=lambda: runtime.bus.published,
            problems=lambda: PROBLEMS,
            equities=equities.view() if isinstance(equities, EquitySetup) else None,
            leases=leases,
        )
    )


def rebalancing_api(runtime: Runtime, equities_view: EquitiesView | None) -> RebalancingApi | None:
    """The rebalancer's records over HTTP, wherever the equity hedger and rebalancing are
    configured (they are read from the shared store, whichever process runs the rebalancer)."""
    equities = runtime.settings.equities
    if equities_view is None or not equities.rebalancing.enabled:
        return None
    store = runtime.store
    assets = [*equities_view.configured, CASH_ASSET]
    view = RebalancingView(
        store.rebalancing,
        RealClock(),
        store.operator_actions,
        assets,
        timeouts=rebalancer_settings(equities).timeouts,
    )
    return RebalancingApi(
        view, store.operator_actions, RealClock(), runtime.notices, store.transaction
    )


def held_deposits(runtime: Runtime) -> HeldDeposits | None:
    """Settling a held deposit, wherever the funding manager is configured (whichever process
    runs it: the deposit is read from the shared store, the send looked up in the wallet)."""
    funding = runtime.funding
    if funding is None:
        return None
    store = runtime.store
    return HeldDeposits(store, store.operator_actions, funding.wallet, RealClock(), runtime.notices)


def build_web(
    runtime: Runtime,
    services: list[str],
    health: HealthMonitor,
    probes: Probes | None = None,
    metrics: Metrics | None = None,
) -> WebSetup:
    """`probes`: who this process is and its leases, for /readyz; `metrics`: the process's
    own, shared with its ops server (default: built here)."""
    settings = runtime.settings
    pegs = runtime.pegs if "peg-monitor" in services else None
    hedging = "hedger" in services
    view = DashboardView(runtime.store, runtime.store.audit, runtime.clock, runtime.dealer)
    equities = runtime.equities
    equities_view = equities.view() if isinstance(equities, EquitySetup) else None
    data = DashboardData(
        view=view,
        readiness=health.readiness,
        wall_clock=RealClock(),
        brackets=brackets(runtime),
        control=runtime.control if hedging else None,
        pegs=pegs,
        pegs_clock=runtime.market_clock,
        transfers=runtime.funding.view.transfers if runtime.funding is not None else None,
    )
    metrics = metrics or build_metrics(runtime, services, health)
    server_box: list[uvicorn.Server] = []
    stream = EventStream(
        runtime.bus,
        lambda: health_summary(data),
        settings.web.heartbeat_seconds,
        stopping=lambda: bool(server_box and server_box[0].should_exit),
        on_clients=metrics.dashboard_clients.set,
    )
    auth = OperatorAuth(settings.web.tokens())
    dashboard = Dashboard(
        data=data,
        events=stream,
        pages=PageSettings(
            heartbeat_ms=int(settings.web.heartbeat_seconds * 1000),
            symbols=list(settings.peg_monitor.symbols) if pegs else [],
            instrument_id=settings.hedger.instrument_id,
            brackets={k: str(v) for k, v in data.brackets.items()},
            minimum_liability_cents=settings.hedger.stablesats.minimum_liability_threshold_cents,
            leverage_bounds={
                "low": str(settings.funding.low_bound_leverage),
                "high": str(settings.funding.high_bound_leverage),
            },
            liquidation_floor_pct=str(settings.alerts.liquidation_distance_floor_pct),
            operator_actions=auth.enabled and hedging,
            demo=settings.demo.enabled,
        ),
        auth=auth,
        operator=runtime.operator if hedging else None,
        metrics=metrics,
        equities=(
            EquitiesApi(equities_view, runtime.store.operator_actions, RealClock(), runtime.notices)
            if equities_view is not None
            else None
        ),
        cluster=ClusterView(
            runtime.store.processes, runtime.store.leases, HEARTBEAT_INTERVAL_SECONDS
        ),
        rebalancing=rebalancing_api(runtime, equities_view),
        held_deposits=held_deposits(runtime),
    )
    probes = probes or Probes(health.readiness)
    context = ApiContext(
        liability=runtime.liability,
        dealer=view.dealer,
        readiness=health.readiness,
        pegs=pegs_router(pegs, runtime.store.pegs, runtime.market_clock) if pegs else None,
        quote=quote_router(runtime.pricing.pricer),
        extend=dashboard.install,
        funding=funding_router(runtime.funding.view) if runtime.funding is not None else None,
        allocation=allocation_router(allocation_view(settings, runtime.store)),
        service_auth=ServiceAuth(settings.web.service_token_map(), settings.http.host),
        liability_source=settings.ledger.source,
        process=probes.process,
        leases=probes.leases,
    )
    http = settings.http
    config = uvicorn.Config(
        create_app(context),
        host=http.host,
        port=http.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    server = uvicorn.Server(config)
    server_box.append(server)
    return WebSetup(server, metrics, dashboard)

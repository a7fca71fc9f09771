"""Running the services a process was asked for, until it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable

import structlog

from pegkeeper.api.grpc.server import PriceServers
from pegkeeper.bootstrap.banner import announce
from pegkeeper.bootstrap.carry import CARRY_LEASE
from pegkeeper.bootstrap.cluster import funding_lease, hedger_lease
from pegkeeper.bootstrap.equities import EquitySetup
from pegkeeper.bootstrap.feeds import quote_feeds, run_okx_books
from pegkeeper.bootstrap.ops import build_ops
from pegkeeper.bootstrap.pricing import price_servers
from pegkeeper.bootstrap.process import bind_http, freeze_startup_heap
from pegkeeper.bootstrap.runtime import Runtime
from pegkeeper.bootstrap.venue import Job, VenueSetup
from pegkeeper.bootstrap.venues import start_venue
from pegkeeper.bootstrap.web import JOB_SERVICES, WebSetup, build_health, build_web, serve_web
from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.errors import VenueMisconfigured
from pegkeeper.domain.venue import PRIMARY_VENUE
from pegkeeper.services.correlation_log import CorrelationLog
from pegkeeper.services.views.health import HealthMonitor

log = structlog.get_logger("pegkeeper")


async def _start_venue(runtime: Runtime) -> None:
    """Every venue's checks, once (OKX: account mode, level, leverage; each venue: the
    instruments of its legs); a failure is alerted."""
    async with runtime.venue_started:
        if runtime.venue_ready:
            return
        for setup in _venues(runtime).values():
            try:
                await start_venue(runtime.settings, setup)
            except VenueMisconfigured as error:
                alerter = runtime.alerter
                if len(runtime.venues) > 1:
                    alerter = alerter.for_venue(setup.name)
                alerter.event(AlertKind.ACCOUNT_CHECK_FAILED, "account check failed", str(error))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await runtime.alerter.drain()
                raise
            log.info("venue ready", name=setup.name, venue=setup.description)
        runtime.venue_ready = True


def _venues(runtime: Runtime) -> dict[str, VenueSetup]:
    return runtime.venues or {PRIMARY_VENUE: runtime.venue}


async def _hedge(runtime: Runtime) -> None:
    """The venue's checks first, then a hedger for each leg of the allocation, each under its
    own lease when processes share the store."""
    await _start_venue(runtime)
    singleton = runtime.cluster.singleton
    async with asyncio.TaskGroup() as group:
        for index, hedger in enumerate(runtime.hedgers):
            lease = hedger_lease(hedger.instrument_id)
            group.create_task(_awaited(singleton(lease, hedger.run)), name=f"hedger-{index}")


async def _carry(runtime: Runtime) -> None:
    assert runtime.carry is not None
    await _start_venue(runtime)
    await runtime.cluster.singleton(CARRY_LEASE, runtime.carry.run)


async def _fund(runtime: Runtime) -> None:
    assert runtime.funding is not None
    await _start_venue(runtime)
    singleton = runtime.cluster.singleton
    async with asyncio.TaskGroup() as group:
        for service in runtime.funding.services:
            lease = funding_lease(service.settings.currency, service.settings.venue_name)
            job = singleton(lease, service.run)
            group.create_task(_awaited(job), name=lease.replace(":", "-"))


async def _awaited(job: Awaitable[object]) -> None:
    await job


async def _all_of(jobs: list[Job]) -> None:
    """Each simulated venue's price path, played side by side."""
    async with asyncio.TaskGroup() as group:
        for job in jobs:
            group.create_task(_awaited(job()))


async def run_services(runtime: Runtime, services: list[str]) -> None:
    """Binds the ports first (a taken one raises ServerStartError before anything is
    announced), then runs every service until cancelled; the store is closed last."""
    health = build_health(runtime, services)
    ops = build_ops(runtime, services, health)
    web = (
        build_web(runtime, services, health, ops.probes, ops.metrics) if "web" in services else None
    )
    grpc: PriceServers | None = None
    sockets: list[socket.socket] = []
    try:
        ops.bind()
        if "price-server" in services:
            observe = ops.metrics.observe_quote if ops.metrics is not None else None
            grpc = price_servers(runtime.settings, runtime.pricing, observe)
            await grpc.start()
        if web is not None:
            sockets.append(bind_http(runtime.settings))
        if "hedger" in services or "funding" in services:
            await _start_venue(runtime)  # an unreachable venue stops the start here
        if web is not None:
            await announce(runtime, services)
        jobs = _jobs(runtime, services, web, grpc, sockets) | ops.jobs()
        freeze_startup_heap()
        async with asyncio.TaskGroup() as group:
            for name, job in jobs.items():
                group.create_task(_logged(name, job, health), name=name)
    finally:
        if grpc is not None:
            await grpc.stop(0)  # nothing left to stop once its job ended
        for sock in sockets:
            sock.close()
        ops.close()
        await close_runtime(runtime)


def _jobs(
    runtime: Runtime,
    services: list[str],
    web: WebSetup | None,
    grpc: PriceServers | None,
    sockets: list[socket.socket],
) -> dict[str, Awaitable[object]]:
    jobs: dict[str, Awaitable[object]] = {}
    prices = [setup.prices for setup in _venues(runtime).values() if setup.prices is not None]
    if prices:
        jobs["sim-prices"] = _all_of(prices)
    if "hedger" in services:
        jobs["hedger"] = _hedge(runtime)
    if "funding" in services and runtime.funding is not None:
        jobs["funding"] = _fund(runtime)
    if "carry" in services and runtime.carry is not None:
        jobs["carry"] = _carry(runtime)
    singleton = runtime.cluster.singleton
    if "liability" in services and runtime.demo is not None:
        jobs["demo-flow"] = singleton("demo-flow", runtime.demo.run)
    if "ledger" in services and runtime.ledger.run is not None:
        jobs["ledger"] = singleton("ledger", runtime.ledger.run)
    live_books = runtime.pricing.live_books
    follows_feed = grpc is not None and runtime.pricing.bus_books is None
    if "market-data" in services or (follows_feed and live_books is not None):
        # the price server follows the live feed, so it runs the feed too
        jobs["okx-books"] = run_okx_books(
            runtime.settings, runtime.notices, runtime.market_clock, live_books
        )
    if "quote-feeds" in services:
        jobs["quote-feeds"] = quote_feeds(
            runtime.settings, runtime.notices, runtime.market_clock
        ).run()
    if grpc is not None:
        jobs["price-server"] = grpc.run()
        if runtime.pricing.bus_books is not None:
            jobs["bus-books"] = runtime.pricing.bus_books.run()
    equities = runtime.equities
    if "equity-hedger" in services and isinstance(equities, EquitySetup):
        jobs["equity-hedger"] = singleton("equity-hedger", equities.run)
    if "rebalancer" in services and runtime.rebalancer is not None:
        jobs["rebalancer"] = singleton("rebalancer", runtime.rebalancer.run)
    if "peg-monitor" in services:
        # the readings in every process; their rows stored by one (the lease's holder)
        jobs["peg-monitor"] = runtime.pegs.run()
        jobs["peg-recorder"] = singleton("peg-monitor", runtime.pegs.recorder.run)
        if runtime.market_replay is not None:
            jobs["market-replay"] = runtime.market_replay.run()
    jobs["correlation-log"] = CorrelationLog(runtime.bus, runtime.store.hedge).run()
    relay = runtime.cluster.relay_job(runtime.bus)
    if relay is not None:
        jobs["outbox-relay"] = relay
    if web is not None:
        jobs["web"] = serve_web(web, sockets)
        jobs["metrics"] = web.metrics.follow(runtime.bus)
    return jobs


async def close_runtime(runtime: Runtime) -> None:
    """Closes what the runtime opened (adapters, the equity hedger's node, the store)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await runtime.alerter.close()
    venue_closers = [close for setup in _venues(runtime).values() for close in setup.closers]
    closers = [*venue_closers, *runtime.ledger.closers, runtime.bus.close]
    if runtime.funding is not None:
        closers += runtime.funding.closers
    if isinstance(runtime.equities, EquitySetup):
        closers.append(runtime.equities.close)
    if runtime.rebalancer is not None:
        closers.append(runtime.rebalancer.close)
    for close in closers:
        await close()
    await runtime.store.close()
    log.info("store closed")


async def _logged(name: str, job: Awaitable[object], health: HealthMonitor) -> None:
    log.info("service started", service=name)
    service = JOB_SERVICES.get(name, name)
    try:
        await job
    except asyncio.CancelledError:
        raise
    except BaseException as error:
        health.job_ended(service, error)
        log.error("service stopped", service=name, error=f"{type(error).__name__}: {error}")
        raise
    health.job_ended(service, None)
    log.warning("service stopped", service=name)

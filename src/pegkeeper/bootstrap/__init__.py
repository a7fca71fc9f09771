"""The one place that builds adapters and hands them to services."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import structlog

from pegkeeper.adapters.bus.factory import open_bus
from pegkeeper.adapters.clock import RealClock, ScaledClock
from pegkeeper.adapters.feeds.capture import read_capture
from pegkeeper.adapters.feeds.okx_books import OkxBooks
from pegkeeper.adapters.feeds.peg_replay import (
    MarketReplay,
    bundled_depeg_path,
    load_market_minutes,
)
from pegkeeper.adapters.store.database import open_store
from pegkeeper.api.grpc.server import ServerStartError
from pegkeeper.bootstrap.carry import build_carry, carry_wanted, shared_weights
from pegkeeper.bootstrap.cluster import Cluster, DatabaseInUse, claim_sqlite
from pegkeeper.bootstrap.collateral import allocation_of, build_alerter, build_funding
from pegkeeper.bootstrap.equities import build_equities, equities_wanted
from pegkeeper.bootstrap.feeds import quote_feeds, run_okx_books, run_quote_feeds
from pegkeeper.bootstrap.jobs import close_runtime, run_services
from pegkeeper.bootstrap.ledger import LedgerMisconfigured, build_ledger
from pegkeeper.bootstrap.logging_setup import configure_logging
from pegkeeper.bootstrap.policies import hedge_policy
from pegkeeper.bootstrap.pricing import (
    BookSourceError,
    Pricing,
    book_source,
    build_pricing,
    refuse_file_book_with_real_venue,
)
from pegkeeper.bootstrap.process import (
    START_ERRORS,
    Stopping,
    StoreUnavailable,
    event_loop_runner,
    start_error,
)
from pegkeeper.bootstrap.rebalancing import build_rebalancer
from pegkeeper.bootstrap.resume import read_stored_state
from pegkeeper.bootstrap.runtime import Runtime
from pegkeeper.bootstrap.tracing import configure_tracing
from pegkeeper.bootstrap.venue import (
    VenueSetup,
    is_real_venue,
    order_lookup_window_seconds,
    price_ticks,
)
from pegkeeper.bootstrap.venues import build_venues
from pegkeeper.config import Settings
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.errors import VenueMisconfigured
from pegkeeper.domain.pricing import CrossExchange, PricingModel, RobustConfig
from pegkeeper.domain.venue import PRIMARY_VENUE
from pegkeeper.ports import Bus, Clock, Venue
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.hedging.operator import OperatorService
from pegkeeper.services.hedging.routes import VenueRoutes
from pegkeeper.services.ledger.demo_flow import DemoFlow, DemoFlowSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.market.peg_monitor import PegMonitor, PegMonitorSettings
from pegkeeper.services.market.replay import ReplayReport, replay_books
from pegkeeper.services.notices import LossyBus
from pegkeeper.services.views.dealer import DealerView

log = structlog.get_logger("pegkeeper")

SERVICES = (
    "hedger",
    "carry",
    "funding",
    "liability",
    "ledger",
    "market-data",
    "quote-feeds",
    "peg-monitor",
    "price-server",
    "equity-hedger",
    "rebalancer",
    "web",
)
__all__ = [
    "SERVICES",
    "START_ERRORS",
    "BookSourceError",
    "DatabaseInUse",
    "LedgerMisconfigured",
    "Runtime",
    "ServerStartError",
    "StoreUnavailable",
    "UnknownService",
    "VenueMisconfigured",
    "build_runtime",
    "close_runtime",
    "migrate_database",
    "quote_feeds",
    "replay_capture",
    "run_forever",
    "run_okx_books",
    "run_quote_feeds",
    "run_services",
    "select_services",
]


class UnknownService(ValueError):
    pass


def select_services(names: list[str], settings: Settings) -> list[str]:
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise UnknownService(
            f"unknown service(s) {', '.join(unknown)}; known services: {', '.join(SERVICES)}"
        )
    if names:
        return list(dict.fromkeys(names))
    disabled = {"hedger": not settings.hedger.enabled, "funding": not settings.funding.enabled}
    disabled["ledger"] = settings.ledger.source == "http"  # nothing to poll
    disabled["peg-monitor"] = not settings.peg_monitor.enabled
    disabled["market-data"] = not settings.market_data.okx.enabled
    disabled["quote-feeds"] = not settings.market_data.quotes.enabled
    disabled["price-server"] = not settings.price_server.enabled
    disabled["equity-hedger"] = not equities_wanted(settings)
    disabled["rebalancer"] = not settings.equities.rebalancing.enabled
    disabled["carry"] = not carry_wanted(settings)
    return [n for n in SERVICES if not disabled.get(n, False)]


async def migrate_database(settings: Settings) -> None:
    store = await open_store(settings.database_url, migrate=True)
    await store.close()


def _hedger_settings(settings: Settings, venue: VenueSetup, leg_index: int) -> HedgerSettings:
    """The hedger of the allocation's leg `leg_index`, on its venue `venue`."""
    h = settings.hedger
    window_seconds = order_lookup_window_seconds(settings, venue.name)
    if venue.simulated and venue.network and isinstance(venue.clock, ScaledClock):
        # The window is the time a request may take to reach the venue: real time, so on a
        # simulated clock that runs faster it is that many times longer.
        window_seconds *= venue.clock.speed
    allocation = allocation_of(settings)
    legs = settings.allocation.legs
    return HedgerSettings(
        instrument_id=allocation.legs[leg_index].instrument_id,
        check_interval_seconds=h.check_interval_seconds,
        order_lookup_window_seconds=window_seconds,
        snapshot_interval_seconds=h.snapshot_interval_seconds,
        limit_order_timeout_seconds=h.limit_order_timeout_seconds,
        allocation=allocation if legs else None,
        leg_index=leg_index,
        roll_lead_seconds=settings.allocation.roll_lead_hours * 3600,
        venue_leverage=Decimal(venue.leverage),
        wait_for_collateral=settings.funding.enabled and venue.funding is not None,
    )


async def _instruments_held(hedgers: list[HedgerService]) -> list[str]:
    """Every leg's instruments: what an operator's close-position closes."""
    return [i for hedger in hedgers for i in await hedger.hedge.instruments_held()]


def _every_leg(allocation: Allocation, venues: dict[str, VenueSetup]) -> Venue:
    """What the operator closes every leg through: the venue, or each leg's own."""
    if len(venues) == 1:
        return venues[PRIMARY_VENUE].venue
    return VenueRoutes(allocation, {name: setup.venue for name, setup in venues.items()})


async def _close_venues(venues: dict[str, VenueSetup]) -> None:
    for setup in venues.values():
        for close in setup.closers:
            await close()


async def build_runtime(settings: Settings, services: list[str] | None = None) -> Runtime:
    """Raises BookSourceError when the price server's book file cannot be used,
    VenueMisconfigured when the venue's configuration cannot be used, and LedgerMisconfigured
    when the ledger source's cannot. `services` (default: every one) says whether the equity
    hedger is built."""
    ticks = price_ticks(settings)
    stored = await read_stored_state(settings, ticks)
    bus = await open_bus(settings.bus)  # raises BusUnavailable when Redis cannot be reached
    notices = LossyBus(bus)
    try:
        venues = await build_venues(settings, ticks, stored.resume_ms)
    except BaseException:
        await bus.close()
        raise
    venue = venues[PRIMARY_VENUE]
    try:
        books = book_source(settings, venue.engine, notices)
    except BookSourceError:
        await _close_venues(venues)
        await bus.close()
        raise
    clock = venue.clock
    store = await open_store(settings.database_url, migrate=True, clock=clock)
    liability = LiabilityService(
        store.liability, notices, clock, max_abs_delta_cents=settings.liability.max_abs_delta_cents
    )
    ledger = build_ledger(settings, store, liability)
    control = HedgeControl()
    cluster = Cluster.of(settings, store)
    outbox = cluster.outbox()  # None: one process, events published after each commit
    allocation = allocation_of(settings)
    weights = shared_weights(settings, store)  # None: the configured weights
    hedgers = [
        HedgerService(
            store,
            venues[leg.venue].venue,
            bus,
            clock,
            hedge_policy(settings),
            _hedger_settings(settings, venues[leg.venue], i),
            control,
            gate=ledger.gate,
            outbox=outbox,
            weights=weights,
        )
        for i, leg in enumerate(allocation.legs)
    ]
    hedger = hedgers[0]

    def wake_hedgers(reason: str) -> None:
        for each in hedgers:
            each.trigger(reason)

    operator = OperatorService(
        control,
        store,
        store.operator_actions,
        _every_leg(allocation, venues),
        bus,
        clock,
        settings.hedger.instrument_id,
        wake_hedger=wake_hedgers,
        held_instruments=lambda: _instruments_held(hedgers),
        outbox=outbox,
    )
    await operator.restore()
    if cluster.store is not None:
        operator.shared_store = True
        for each in hedgers:
            each.before_cycle = operator.sync
    demo = None
    if settings.demo.enabled and ledger.source == "http":  # not on top of a real wallet's ledger
        d = settings.demo
        demo = DemoFlow(
            liability,
            clock,
            DemoFlowSettings(
                d.seed,
                d.mean_interval_seconds,
                d.median_trade_cents,
                d.max_liability_cents,
                d.opening_liability_cents,
            ),
        )
    # Live feeds stamp real time; the demo's recorded markets run on the simulated clock.
    live = settings.market_data.okx.enabled or settings.market_data.quotes.enabled
    market_clock: Clock = RealClock() if live else clock
    pegs = PegMonitor(notices, market_clock, store.pegs, _peg_settings(settings))
    pricing = build_pricing(settings, books, store.quotes, liability)
    alerter = build_alerter(settings, store, venue)
    funding = None
    if settings.funding.enabled:
        try:
            funding = build_funding(
                settings, store, venues, notices, alerter, _feed_health(pricing), ledger.gate
            )
        except VenueMisconfigured:
            await _close_venues(venues)
            await bus.close()
            await store.close()
            raise
    equities = None
    if services is None or "equity-hedger" in services:
        equities = await build_equities(settings, store, alerter)
    rebalancer = None
    rebalancing = settings.equities.rebalancing.enabled
    if rebalancing and (services is None or "rebalancer" in services):
        rebalancer = build_rebalancer(settings.equities, store, alerter)
    carry = build_carry(settings, store, venue, bus, outbox, services)
    return Runtime(
        pegs=pegs,
        market_clock=market_clock,
        market_replay=_market_replay(settings, notices, market_clock),
        settings=settings,
        clock=clock,
        bus=bus,
        notices=notices,
        store=store,
        venue=venue,
        venues=venues,
        liability=liability,
        hedger=hedger,
        dealer=DealerView(
            store,
            ledger.gate,
            accounts=funding.services if funding is not None else (),
            control=control,
            clock=clock,
        ),
        demo=demo,
        pricing=pricing,
        ledger=ledger,
        control=control,
        operator=operator,
        alerter=alerter,
        funding=funding,
        stored=stored,
        cluster=cluster,
        hedgers=hedgers,
        equities=equities,
        rebalancer=rebalancer,
        carry=carry,
    )


def _feed_health(pricing: Pricing) -> Callable[[], dict[str, str]] | None:
    live = pricing.live_books
    if live is None:
        return None
    return lambda: {f"okx books {inst}": status for inst, status in live.health().items()}


def _peg_settings(settings: Settings) -> PegMonitorSettings:
    p = settings.peg_monitor
    return PegMonitorSettings(
        symbols=tuple(p.symbols),
        model=PricingModel(p.model),
        robust=RobustConfig(CrossExchange(p.cross_exchange), p.max_deviation),
        window_ticks=p.window_ticks,
        source_stale_after_ms=int(p.source_stale_after_seconds * 1000),
        record_interval_ms=int(p.record_interval_seconds * 1000),
        raw_retention_ms=int(p.raw_retention_hours * 3_600_000),
    )


def _market_replay(settings: Settings, bus: Bus, clock: Clock) -> MarketReplay | None:
    if not (settings.demo.enabled and settings.demo.peg_replay):
        return None
    interval_seconds = settings.sim.speed / settings.demo.peg_replay_minutes_per_second
    minutes = load_market_minutes(bundled_depeg_path())
    start = settings.demo.peg_replay_start_minute
    return MarketReplay(bus, clock, minutes, interval_seconds, start_minute=start)


def replay_capture(exchange: str, paths: list[Path]) -> ReplayReport:
    """Replay recorded WebSocket traffic through the book code the live feed runs."""
    if exchange != "okx":
        raise ValueError(f"replay supports the exchange 'okx', got {exchange!r}")
    raw = (message.raw for path in paths for message in read_capture(path))
    return replay_books(raw, OkxBooks())


def run_forever(settings: Settings, names: list[str]) -> None:
    """Runs until SIGINT or SIGTERM (then returns, every service stopped and the store
    closed); raises one of START_ERRORS when a service cannot start."""
    services = select_services(names, settings)
    if "price-server" in services and is_real_venue(settings):
        refuse_file_book_with_real_venue(settings)
    configure_logging(settings.log.level, settings.log.json_format)
    sqlite_lock = claim_sqlite(settings)  # noqa: F841 - held for the process's life
    stopping = Stopping()

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        stopping.install(task)
        shutdown_tracing = configure_tracing(settings)  # None: [tracing] is off
        try:
            runtime = await build_runtime(settings, services)
            await run_services(runtime, services)
        finally:
            if shutdown_tracing is not None:
                await shutdown_tracing()

    try:
        event_loop_runner()(main())
    except BaseExceptionGroup as group:
        raise start_error(group) or group from None
    except (asyncio.CancelledError, KeyboardInterrupt):
        if not stopping.signal_name:
            raise
    log.info("pegkeeper stopped", signal=stopping.signal_name or None)

"""Prometheus metrics: the book (liability, exposure, hedge ratio, leverage, liquidation
distance), feeds and pegs, service readiness and leases, bus traffic, quote latency, order
outcomes and problems by cause, the equity hedger (chain checkpoint lag, unhedged exposure and
its age, skipped logs, ledger breaks). Gauges are read from the services at scrape time;
counters and the latency histogram are kept as things happen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pegkeeper.domain.events import OperatorActed, OrderUpdated, decode_event
from pegkeeper.domain.leases import LeaseState, LeaseStatus
from pegkeeper.domain.operator import OperatorActionKind, OperatorResult
from pegkeeper.domain.orders import OrderState
from pegkeeper.ports import Bus, Clock
from pegkeeper.services.equities.broker_probe import BrokerCheck
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.market.peg_monitor import PegMonitor
from pegkeeper.services.market.pricer import Pricer
from pegkeeper.services.views.dashboard import liquidation_distance
from pegkeeper.services.views.dealer import DealerStatus, DealerView
from pegkeeper.services.views.equities import EquitiesView
from pegkeeper.services.views.equities_figures import EquitiesOverview

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
QUOTE_LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


@dataclass
class MetricSources:
    dealer: DealerView
    clock: Clock  # the dealer's clock: snapshot ages
    readiness: Callable[[], Awaitable[dict[str, str]]]
    control: HedgeControl | None = None
    pegs: PegMonitor | None = None
    pegs_clock: Clock | None = None  # the peg monitor's clock: feed ages
    pricer: Pricer | None = None
    brackets: Mapping[str, Decimal] = field(default_factory=dict)
    bus_messages: Callable[[], Mapping[str, int]] = dict
    problems: Callable[[], Mapping[tuple[str, str], int]] = dict
    equities: EquitiesView | None = None
    leases: Callable[[], list[LeaseStatus]] = list  # the process's leases


class _Families(Collector):
    """Yields the families computed at the last scrape."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        return list(self.families)


class Metrics:
    def __init__(self, sources: MetricSources) -> None:
        self.sources = sources
        self.registry = CollectorRegistry()
        self.quote_latency = Histogram(
            "pegkeeper_quote_latency_seconds",
            "Time to answer a price or quote request (gRPC rpc, or http for /api/v1/quote)",
            ["rpc"],
            buckets=QUOTE_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.order_updates = Counter(
            "pegkeeper_order_updates",
            "Order state changes recorded, by state (filled, rejected, unknown, lost ...)",
            ["state"],
            registry=self.registry,
        )
        self.operator_actions = Counter(
            "pegkeeper_operator_actions",
            "Operator actions recorded, by action and result",
            ["action", "result"],
            registry=self.registry,
        )
        self.dashboard_clients = Gauge(
            "pegkeeper_dashboard_clients",
            "Pages following the live event stream",
            registry=self.registry,
        )
        self.quote_latency.labels(rpc="http")  # every series exists before the first request
        for state in OrderState:
            self.order_updates.labels(state=state.value)
        for kind in OperatorActionKind:
            self.operator_actions.labels(action=kind.value, result=OperatorResult.DONE.value)
        self._families = _Families()
        self.registry.register(self._families)

    def observe_quote(self, rpc: str, seconds: float) -> None:
        self.quote_latency.labels(rpc=rpc).observe(seconds)

    async def follow(self, bus: Bus) -> None:
        """Count order outcomes and operator actions from the bus."""
        subscription = bus.subscribe("*")
        try:
            async for topic, payload in subscription:
                if topic == "hedge.order" or topic == "operator":
                    self.count(payload)
        finally:
            await subscription.close()

    def count(self, payload: bytes) -> None:
        event = decode_event(payload)
        if isinstance(event, OrderUpdated):
            self.order_updates.labels(state=event.state).inc()
        elif isinstance(event, OperatorActed):
            self.operator_actions.labels(action=event.action, result=event.result).inc()

    async def render(self) -> bytes:
        self._families.families = await self._collect()
        return generate_latest(self.registry)

    async def _collect(self) -> list[Metric]:
        s = self.sources
        families = list(_dealer_families(await s.dealer.status(), s.clock.now_ms(), s.brackets))
        families += _readiness_families(await s.readiness(), s.control)
        families += _lease_families(s.leases())
        if s.pegs is not None:
            families += _peg_families(s.pegs, (s.pegs_clock or s.clock).now_ms())
        if s.pricer is not None:
            fresh = GaugeMetricFamily(
                "pegkeeper_price_book_fresh",
                "1 while the price server has a book fresh enough to quote from",
            )
            fresh.add_metric([], 1.0 if s.pricer.status().fresh else 0.0)
            families.append(fresh)
        if s.equities is not None:
            families += _equity_families(await s.equities.overview())
        bus = CounterMetricFamily(
            "pegkeeper_bus_messages",
            "Messages published on the bus, by topic family",
            labels=["topic"],
        )
        for topic, count in sorted(s.bus_messages().items()):
            bus.add_metric([topic], count)
        problems = CounterMetricFamily(
            "pegkeeper_errors",
            "Warnings and errors logged, by level and cause",
            labels=["level", "cause"],
        )
        for (level, cause), count in sorted(s.problems().items()):
            problems.add_metric([level, cause], count)
        return [*families, bus, problems]


def _gauge(name: str, help_text: str, value: Decimal | int | float | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text)
    if value is not None:
        family.add_metric([], float(value))
    return family


def _dealer_families(
    status: DealerStatus, now_ms: int, brackets: Mapping[str, Decimal]
) -> Iterator[Metric]:
    p = status.position
    yield _gauge(
        "pegkeeper_liability_usd", "Synthetic USD owed to users", status.liability_cents / 100
    )
    yield _gauge(
        "pegkeeper_exposure_usd",
        "USD value of the hedge (negative: short), at the last position snapshot",
        status.exposure_cents / 100,
    )
    yield _gauge(
        "pegkeeper_hedge_ratio",
        "Hedge notional / liability (none while no liability)",
        status.hedge_ratio,
    )
    bounds = GaugeMetricFamily(
        "pegkeeper_hedge_ratio_bracket", "The hedge policy's brackets", labels=["bound"]
    )
    for bound, value in brackets.items():
        bounds.add_metric([bound], float(value))
    yield bounds
    yield _gauge(
        "pegkeeper_position_contracts",
        "Position size (negative: short)",
        p.size_contracts if p else 0,
    )
    yield _gauge(
        "pegkeeper_btc_price_usd",
        "Mark price at the last snapshot",
        p.mark_price_usd if p else None,
    )
    yield _gauge(
        "pegkeeper_leverage", "Position notional / trading equity", p.leverage if p else None
    )
    yield _gauge(
        "pegkeeper_liquidation_price_usd",
        "The venue's liquidation price",
        p.liquidation_price_usd if p else None,
    )
    yield _gauge(
        "pegkeeper_liquidation_distance_ratio",
        "Adverse move of the mark price that liquidates the position, as a fraction of it",
        liquidation_distance(p),
    )
    collateral = GaugeMetricFamily(
        "pegkeeper_collateral",
        "Venue balances in the settlement currency, by account",
        labels=["account"],
    )
    if p is not None:
        collateral.add_metric(["trading"], float(p.collateral))
        collateral.add_metric(["trading_available"], float(p.collateral_available))
        collateral.add_metric(["funding"], float(p.funding_balance))
    yield collateral
    yield _gauge(
        "pegkeeper_position_snapshot_age_seconds",
        "Time since the last position snapshot (the dealer's clock)",
        (now_ms - p.created_at_ms) / 1000 if p else None,
    )


def _readiness_families(states: Mapping[str, str], control: HedgeControl | None) -> list[Metric]:
    ready = GaugeMetricFamily(
        "pegkeeper_service_ready", "1 when the service is ready, 0 otherwise", labels=["service"]
    )
    for service, state in sorted(states.items()):
        ready.add_metric([service], 1.0 if state == "ready" else 0.0)
    paused = _gauge(
        "pegkeeper_hedging_paused",
        "1 while an operator has paused hedging",
        (1 if control.paused else 0) if control is not None else None,
    )
    return [ready, paused]


def _lease_families(leases: list[LeaseStatus]) -> list[Metric]:
    held = GaugeMetricFamily(
        "pegkeeper_lease_held", "1 while this process holds the lease", labels=["lease"]
    )
    epoch = GaugeMetricFamily(
        "pegkeeper_lease_epoch",
        "The lease's epoch as this process last read it (0: no holder)",
        labels=["lease"],
    )
    for status in sorted(leases, key=lambda s: s.name):
        held.add_metric([status.name], 1.0 if status.state == LeaseState.HELD else 0.0)
        epoch.add_metric([status.name], status.epoch)
    return [held, epoch]


def _peg_families(pegs: PegMonitor, now_ms: int) -> list[Metric]:
    age = GaugeMetricFamily(
        "pegkeeper_feed_age_seconds",
        "Time since the last quote of each source and market",
        labels=["exchange", "market"],
    )
    stale = GaugeMetricFamily(
        "pegkeeper_feed_stale", "1 when the source is stale", labels=["exchange", "market"]
    )
    for top, received_ms in sorted(pegs.quotes(), key=lambda q: (q[0].exchange, q[0].pair)):
        age.add_metric([top.exchange, top.pair], max(now_ms - received_ms, 0) / 1000)
        stale.add_metric([top.exchange, top.pair], 1.0 if top.stale else 0.0)
    price = GaugeMetricFamily("pegkeeper_peg_price", "Aggregated price in USD", labels=["symbol"])
    deviation = GaugeMetricFamily(
        "pegkeeper_peg_deviation_bps", "Deviation from 1 USD in basis points", labels=["symbol"]
    )
    score = GaugeMetricFamily(
        "pegkeeper_peg_score", "Stability score (0 to 10) of the last prices", labels=["symbol"]
    )
    for symbol in pegs.symbols:
        reading = pegs.reading(symbol)
        if reading is None:
            continue
        price.add_metric([symbol], reading.price)
        deviation.add_metric([symbol], reading.deviation_bps)
        score.add_metric([symbol], reading.ticks.score)
    return [age, stale, price, deviation, score]


def _equity_families(view: EquitiesOverview) -> list[Metric]:
    chain = view.ingestion
    families: list[Metric] = [
        _gauge(
            "pegkeeper_equity_checkpoint_block",
            "The last block of the orderbook read completely",
            chain.checkpoint.number if chain.checkpoint else None,
        ),
        _gauge(
            "pegkeeper_equity_checkpoint_lag_blocks",
            "Blocks between the checkpoint and the newest block ingestion may read",
            chain.lag_blocks,
        ),
        _gauge(
            "pegkeeper_equity_checkpoint_lag_seconds",
            "Block time between the checkpoint and the newest block ingestion may read",
            chain.lag_seconds,
        ),
        _gauge(
            "pegkeeper_equity_ingestion_failures",
            "Chain polls that failed in a row",
            chain.consecutive_failures,
        ),
        _gauge(
            "pegkeeper_equity_ingestion_stalled",
            "1 while the checkpoint has not moved, behind the cutoff, past the alert limit",
            (1 if chain.stalled else 0) if chain.running else None,
        ),
    ]
    ages = [r.exposure_age_seconds for r in view.symbols if r.exposure_age_seconds is not None]
    families.append(
        _gauge(
            "pegkeeper_equity_oldest_unhedged_seconds",
            "Age of the oldest onchain fill not yet covered by a broker fill (0: none open)",
            max(ages, default=0),
        )
    )
    unhedged = GaugeMetricFamily(
        "pegkeeper_equity_unhedged_usd",
        "Open exposure at the last onchain price, by symbol (negative: the maker is short)",
        labels=["symbol"],
    )
    shares = GaugeMetricFamily(
        "pegkeeper_equity_unhedged_shares",
        "Open exposure in shares, by symbol (negative: the maker is short)",
        labels=["symbol"],
    )
    paused = GaugeMetricFamily(
        "pegkeeper_equity_paused",
        "1 while an operator's switch (global or its own) holds the symbol",
        labels=["symbol"],
    )
    for row in view.symbols:
        if row.exposure_usd is not None:
            unhedged.add_metric([row.symbol], float(row.exposure_usd))
        shares.add_metric([row.symbol], float(row.exposure))
        paused.add_metric([row.symbol], 1.0 if row.paused else 0.0)
    skipped = GaugeMetricFamily(
        "pegkeeper_equity_skipped_logs",
        "Orderbook logs recorded as skipped, by reason",
        labels=["reason"],
    )
    for reason, count in sorted(chain.skipped.items()):
        skipped.add_metric([reason], count)
    families += [unhedged, shares, paused, skipped]
    if view.ledger is not None:
        breaks = GaugeMetricFamily(
            "pegkeeper_equity_ledger_breaks",
            "Invariants of the fill-to-hedge ledger broken at the last check, by scope",
            labels=["scope"],
        )
        for scope, count in view.ledger.by_scope.items():
            breaks.add_metric([scope], count)
        families.append(breaks)
    if view.broker is not None:
        families += _broker_families(view.broker)
    return families


def _broker_families(check: BrokerCheck) -> list[GaugeMetricFamily]:
    families = [
        _gauge(
            "pegkeeper_equity_broker_ok",
            "1 while the last broker probe found nothing that stops the hedger",
            1 if check.ok else 0,
        ),
        _gauge(
            "pegkeeper_equity_broker_checked_timestamp_seconds",
            "When the broker was last probed (unix seconds)",
            check.checked_at_ms / 1000,
        ),
    ]
    if check.account is not None:
        families.append(
            _gauge(
                "pegkeeper_equity_broker_cash_usd",
                "The broker account's cash, what buys may spend",
                check.account.cash_usd,
            )
        )
    if check.login_expires_at_ms is not None:
        families.append(
            _gauge(
                "pegkeeper_equity_broker_login_expires_timestamp_seconds",
                "When the broker's stored login ends (unix seconds)",
                check.login_expires_at_ms / 1000,
            )
        )
    return families

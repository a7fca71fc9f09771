"""The tokenized-equity hedger, built from `[equities]`: chain ingestion over the node, the
broker, the hedger, the P&L and the ledger's reconciler. In the embedded demo it also starts a
local node (anvil, when installed), deploys the stand-in orderbook and runs takers on it.

Equity services run on real time whatever the dealer's demo clock does: block times are real,
and exposure ages are measured against them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from pegkeeper.adapters.brokers.dry_run import PriceSource
from pegkeeper.adapters.chain.anvil import INSTALL_HINT, AnvilNode, anvil_path
from pegkeeper.adapters.chain.demo_market import DemoDeployment, DemoMarket
from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.bootstrap.brokers import (
    broker_probe,
    broker_request_timeout_seconds,
    build_broker,
    hedge_gate,
    market_calendar,
)
from pegkeeper.bootstrap.cluster import is_shared_store
from pegkeeper.bootstrap.venue import is_real_venue
from pegkeeper.config import Settings
from pegkeeper.config.equities import EquitiesSettings, EquityAssetSettings
from pegkeeper.domain.execution import lookup_window_seconds
from pegkeeper.ports import Broker, Clock, EquityRepository, RebalanceRepository
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.equities.broker_probe import BrokerProbe
from pegkeeper.services.equities.control import EquityControl
from pegkeeper.services.equities.hedger import EquityHedger, EquityHedgerSettings
from pegkeeper.services.equities.ingestion import ChainIngestion, IngestionSettings
from pegkeeper.services.equities.pnl import EquityPnl
from pegkeeper.services.equities.reconciler import LedgerReconciler
from pegkeeper.services.views.equities import EquitiesView
from pegkeeper.services.views.health import READY

log = structlog.get_logger("pegkeeper.equities")

Job = Callable[[], Awaitable[None]]

# The demo's chain: a block a second, read two blocks behind the head, polled every second.
DEMO_BLOCK_TIME_S = 1
DEMO_CUTOFF_BLOCKS = 2
DEMO_POLL_SECONDS = 1.0


@dataclass
class EquitySetup:
    settings: EquitiesSettings
    repository: EquityRepository
    chain: RaindexChain
    broker: Broker
    control: EquityControl
    ingestion: ChainIngestion
    hedger: EquityHedger
    pnl: EquityPnl
    reconciler: LedgerReconciler
    probe: BrokerProbe
    demo: DemoMarket | None = None
    rebalancing: RebalanceRepository | None = None  # its costs count in the P&L
    closers: list[Job] = field(default_factory=list)

    async def run(self) -> None:
        """Every equity service, until cancelled (ingestion checks the tokens first)."""
        await self.ingestion.start()
        await self.control.load()
        await self.pnl.start()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.ingestion.run(), name="equity-ingestion")
            group.create_task(self.hedger.run(), name="equity-hedger")
            group.create_task(self.pnl.run(), name="equity-pnl")
            group.create_task(self.reconciler.run(), name="equity-reconciler")
            group.create_task(self.probe.run(), name="equity-broker-probe")
            if self.demo is not None:
                group.create_task(self.demo.run(), name="equity-demo-takers")

    def view(self) -> EquitiesView:
        """What the API, the dashboard and the metrics read of the equity hedger."""
        return EquitiesView(
            self.repository,
            RealClock(),
            self.settings.universe().symbols,
            hedger=self.hedger,
            ingestion=self.ingestion,
            pnl_source=self.pnl,
            control=self.control,
            reconciler=self.reconciler,
            broker=self.probe,
            rebalancing=self.rebalancing,
        )

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()


@dataclass(frozen=True, slots=True)
class EquityDemoUnavailable:
    """Why the embedded equities demo does not run (said in the banner and the log)."""

    reason: str


def equities_wanted(settings: Settings) -> bool:
    """Whether the equity hedger runs: configured, or the embedded demo's (simulated venue)."""
    if settings.equities.enabled:
        return True
    return settings.demo.enabled and settings.demo.equities and not is_real_venue(settings)


async def build_equities(
    settings: Settings, store: SqlStore, alerter: Alerter
) -> EquitySetup | EquityDemoUnavailable | None:
    """The equity hedger as configured; in the embedded demo, on a local node of its own (or
    why not); None when equities are off."""
    if settings.equities.enabled:
        lease_s = settings.cluster.lease_ttl_seconds
        setup = _build(settings.equities, store, alerter, RealClock(), lease_ttl_seconds=lease_s)
        setup.hedger.reload_switches = is_shared_store(settings)
        return setup
    if not equities_wanted(settings):
        return None
    return await _build_demo(settings, store, alerter)


async def _build_demo(
    settings: Settings, store: SqlStore, alerter: Alerter
) -> EquitySetup | EquityDemoUnavailable:
    binary = anvil_path()
    if binary is None:
        return EquityDemoUnavailable(f"the equities demo needs anvil: {INSTALL_HINT}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state_path = settings.data_dir / "equities-demo-chain.json"
    node = AnvilNode(binary, block_time_s=DEMO_BLOCK_TIME_S, state_path=state_path)
    node.start()  # on the event loop's thread: the node stops when that thread ends
    market = DemoMarket(node.url, seed=settings.demo.seed)
    try:
        deployment = await market.open(settings.data_dir / "equities-demo-contracts.json")
    except BaseException:
        await market.close()
        node.stop()
        raise
    equities = demo_settings(settings.equities, node.url, deployment)
    setup = _build(
        equities,
        store,
        alerter,
        RealClock(),
        market_price=market.market_price,
        lease_ttl_seconds=settings.cluster.lease_ttl_seconds,
    )
    setup.demo = market
    setup.closers += [market.close, lambda: asyncio.to_thread(node.stop)]
    log.info(
        "equities demo: a local chain with takers", rpc=node.url, orderbook=deployment.orderbook
    )
    return setup


def demo_settings(
    base: EquitiesSettings, rpc_url: str, deployment: DemoDeployment
) -> EquitiesSettings:
    """`[equities]` pointed at the demo's chain: its orderbook, tokens and a fast pace."""
    assets = [
        EquityAssetSettings(
            symbol=a.symbol,
            tokens=[a.token],
            wrapped_tokens=[a.wrapper] if a.wrapper else [],
        )
        for a in deployment.assets
    ]
    return EquitiesSettings.model_validate(
        {
            **base.model_dump(exclude={"rpc_url", "assets"}),
            "enabled": True,
            "rpc_url": rpc_url,
            "orderbook": deployment.orderbook,
            "deployment_block": deployment.deployment_block,
            "order_owner": deployment.order_owner,
            "usdc": deployment.usdc,
            "cutoff": DEMO_CUTOFF_BLOCKS,
            "poll_interval_seconds": DEMO_POLL_SECONDS,
            "assets": [a.model_dump() for a in assets],
        }
    )


def broker_lookup_window_seconds(equities: EquitiesSettings, lease_ttl_seconds: float) -> float:
    """[equities] order_lookup_window_seconds, lengthened past the latest a broker order
    request may still be executed: it carries no expiry, so a paused former holder's may reach
    the broker up to the lease plus the request timeout after it was sent."""
    must_exceed_s = lease_ttl_seconds + broker_request_timeout_seconds(equities)
    return lookup_window_seconds(equities.order_lookup_window_seconds, must_exceed_s)


def _build(
    equities: EquitiesSettings,
    store: SqlStore,
    alerter: Alerter,
    clock: Clock,
    *,
    market_price: PriceSource | None = None,
    lease_ttl_seconds: float,
) -> EquitySetup:
    """`market_price`: where the dry-run broker fills (default: the last onchain fill's)."""
    repository = store.equities
    universe = equities.universe()
    chain = RaindexChain(
        equities.rpc_url.get_secret_value(),
        equities.orderbook,
        cutoff=equities.cutoff,
        keep_blocks=equities.keep_block_hashes,
        timeout_s=equities.request_timeout_seconds,
    )
    price = market_price or repository.last_fill_price  # the last onchain fill's price
    broker = build_broker(equities, store, clock, price)
    calendar = market_calendar(equities, broker)
    symbols = universe.symbols
    control = EquityControl(store.operator_actions, clock, symbols, records_actions=False)
    pnl = EquityPnl(repository, clock, alerter=alerter)
    hedger = EquityHedger(
        repository,
        broker,
        clock,
        EquityHedgerSettings(
            check_interval_seconds=equities.check_interval_seconds,
            min_notional_usd=equities.min_notional_usd,
            order_lookup_window_seconds=broker_lookup_window_seconds(equities, lease_ttl_seconds),
            unhedged_alert_seconds=equities.unhedged_alert_seconds,
        ),
        symbols=symbols,
        control=control,
        alerter=alerter,
        on_broker_fills=pnl.trigger,
        gate=hedge_gate(equities, broker, calendar, clock, alerter),
    )
    ingestion = ChainIngestion(
        chain,
        repository,
        universe,
        clock,
        IngestionSettings(
            deployment_block=equities.deployment_block,
            poll_interval_seconds=equities.poll_interval_seconds,
            range_blocks=equities.range_blocks,
            keep_block_hashes=equities.keep_block_hashes,
            checkpoint_stall_alert_seconds=equities.checkpoint_stall_alert_seconds,
            request_timeout_seconds=equities.request_timeout_seconds,
        ),
        alerter=alerter,
        listeners=[hedger.trigger, pnl.trigger],
    )
    reconciler = LedgerReconciler(
        repository, clock, alerter=alerter, interval_seconds=equities.reconcile_interval_seconds
    )
    return EquitySetup(
        settings=equities,
        repository=repository,
        chain=chain,
        broker=broker,
        control=control,
        ingestion=ingestion,
        hedger=hedger,
        pnl=pnl,
        reconciler=reconciler,
        probe=broker_probe(equities, broker, calendar, clock, alerter),
        rebalancing=store.rebalancing,
        closers=[chain.aclose, broker.aclose],
    )


# A node that failed this many polls in a row makes the equity hedger not ready.
NODE_FAILURES_NOT_READY = 3


def equities_check(setup: EquitySetup) -> Callable[[], Awaitable[str]]:
    """The equity hedger's readiness: started, the chain read advancing, the ledger whole."""

    async def check() -> str:
        if not setup.hedger.ready.is_set():
            return "starting: checking the tokens and the orders in flight"
        broker = setup.probe.last
        if broker is None:
            return f"starting: checking the {setup.broker.name} broker"
        if not broker.ok:
            return f"{broker.broker} broker check failed: {'; '.join(broker.problems)}"
        chain = setup.ingestion.figures()
        if chain.stalled:
            return (
                f"chain ingestion stalled: checkpoint {chain.checkpoint_block} has not moved for "
                f"{chain.stalled_seconds:.0f} s, {chain.lag_blocks} blocks behind the cutoff"
            )
        if chain.consecutive_failures >= NODE_FAILURES_NOT_READY:
            return (
                f"node unreachable: the last {chain.consecutive_failures} polls failed "
                f"({chain.last_error})"
            )
        breaks = setup.reconciler.figures().breaks
        if breaks:
            return (
                f"fill-to-hedge ledger broken: {len(breaks)} invariant(s) fail ({breaks[0].detail})"
            )
        return READY

    return check

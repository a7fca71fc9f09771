"""The equity hedger's pipeline as `pegkeeper run` wires it (bootstrap/equities.py), over a real
node and a real database: RaindexChain reading anvil (directly or through the misbehaving
RpcProxy), ChainIngestion, the SQL equity repository, EquityHedger with the dry-run broker
filling at the last onchain price, EquityPnl and the ledger's reconciler, alerts into an
in-memory sink and recorded in the store.

The services run step by step rather than in their loops: `ingest` is one poll, `hedge` one
hedger cycle. Time is a manual clock that follows the chain: before each cycle it moves to half
a second after the newest block, so a broker fill comes after the onchain fills it hedges and
before the next block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlalchemy import select

from pegkeeper.adapters.brokers.dry_run import DryRunBroker, DryRunSettings
from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.adapters.store.equity_tables import equity_skipped_logs
from pegkeeper.domain.collateral import Alert, AlertKind
from pegkeeper.domain.equities.broker import BrokerKind, BrokerOrderIntent
from pegkeeper.domain.equities.chain import OnchainFill
from pegkeeper.domain.equities.fifo import replay
from pegkeeper.domain.equities.ledger import OnchainFillRecord
from pegkeeper.domain.orders import OrderSide
from pegkeeper.ports import EquityRepository
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.equities.control import EquityControl
from pegkeeper.services.equities.hedger import EquityHedger, EquityHedgerSettings
from pegkeeper.services.equities.ingestion import ChainIngestion, IngestionSettings
from pegkeeper.services.equities.pnl import EquityPnl
from pegkeeper.services.equities.reconciler import LedgerReconciler
from pegkeeper.services.execution.broker_orders import BrokerSent
from tests.fakes import RecordingSink
from tests.integration.equities_pipeline.market import Market

D = Decimal
BROKER_FILL_AFTER_BLOCK_MS = 500


@dataclass(frozen=True, slots=True)
class Skipped:
    """A skipped log as stored."""

    fill_id: str
    block_number: int
    reason: str
    detail: str


@dataclass
class Pipeline:
    market: Market
    store: SqlStore
    clock: ManualClock
    chain: RaindexChain
    broker: DryRunBroker
    sink: RecordingSink
    alerter: Alerter
    control: EquityControl
    ingestion: ChainIngestion
    hedger: EquityHedger
    pnl: EquityPnl
    reconciler: LedgerReconciler
    pnl_consistent_at_start: bool = True

    @property
    def repo(self) -> EquityRepository:
        return self.store.equities

    async def ingest(self) -> list[OnchainFill]:
        """One poll: every range up to the node's cutoff; the new fills."""
        return await self.ingestion.poll_once()

    async def hedge(self) -> list[BrokerSent]:
        """One hedger cycle just after the newest block, then the P&L brought up to date."""
        head = await self.market.head()
        block_ms = await self.market.world.block_timestamp(head) * 1000
        self.clock.set(max(self.clock.now_ms(), block_ms + BROKER_FILL_AFTER_BLOCK_MS))
        sent = await self.hedger.cycle("fill")
        await self.pnl.refresh()
        return sent

    async def step(self) -> tuple[list[OnchainFill], list[BrokerSent]]:
        return await self.ingest(), await self.hedge()

    async def exposures(self) -> dict[str, Decimal]:
        return {s: e.exposure for s, e in (await self.repo.exposures()).items()}

    async def exposure(self, symbol: str) -> Decimal:
        return (await self.exposures()).get(symbol, D(0))

    def orders(self) -> list[tuple[str, OrderSide, Decimal]]:
        """Every order the broker was sent: symbol, side, shares."""
        return [order_of(intent) for intent in self.broker.sent]

    async def stored_fills(self) -> list[OnchainFillRecord]:
        """Every onchain fill stored, reverted ones included, in chain order."""
        fills = (await self.repo.ledger_snapshot()).onchain_fills
        return sorted(fills, key=lambda f: (f.block_number, f.log_index, f.reverted))

    async def skipped(self) -> list[Skipped]:
        table = equity_skipped_logs
        query = select(table).order_by(table.c.block_number, table.c.log_index)
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Skipped(f"{row.tx_hash}:{row.log_index}", row.block_number, row.reason, row.detail)
            for row in rows
        ]

    async def alerts(self, kind: AlertKind) -> list[Alert]:
        """The alerts of `kind` the sink was handed."""
        await self.alerter.drain()
        return [a for a in self.sink.delivered if isinstance(a, Alert) and a.kind is kind]

    async def assert_whole(self) -> None:
        """The fill-to-hedge ledger keeps every invariant and the stored P&L is the replay of
        the trades."""
        assert await self.reconciler.check() == []
        await self.pnl.refresh()
        assert await self.repo.pnl_entries() == replay(await self.repo.trades())


def order_of(intent: BrokerOrderIntent) -> tuple[str, OrderSide, Decimal]:
    return (intent.symbol, intent.side, intent.quantity)


@asynccontextmanager
async def running_pipeline(
    database_url: str,
    market: Market,
    *,
    rpc_url: str = "",
    clock: ManualClock | None = None,
    broker_kind: BrokerKind = BrokerKind.FRACTIONAL,
    slippage_bps: str = "0",
    range_blocks: int = 1_000,
    keep_block_hashes: int = 16,
    cutoff: int | Literal["safe", "finalized"] = 0,
) -> AsyncIterator[Pipeline]:
    """The pipeline over the store at `database_url` (opened, migrated, closed at the end),
    reading the chain at `rpc_url` (default: the market's node) from the market's deployment
    block, started as `EquitySetup.run` starts it: tokens checked, switches loaded, P&L
    replayed and compared with the stored one."""
    if clock is None:
        clock = ManualClock(await market.world.block_timestamp(await market.head()) * 1000)
    store = await open_store(database_url, clock=clock)
    chain = RaindexChain(
        rpc_url or market.world.url,
        market.world.orderbook.address,
        cutoff=cutoff,
        keep_blocks=keep_block_hashes,
        timeout_s=5.0,
    )
    sink = RecordingSink()
    alerter = Alerter(sink, store.funding, clock, AlertSettings())
    try:
        pipeline = _wire(
            market,
            store,
            clock,
            chain,
            sink,
            alerter,
            DryRunSettings(kind=broker_kind, slippage_bps=D(slippage_bps)),
            IngestionSettings(
                deployment_block=market.deployment_block,
                range_blocks=range_blocks,
                keep_block_hashes=keep_block_hashes,
                request_timeout_seconds=10.0,
            ),
        )
        await pipeline.ingestion.start()
        await pipeline.control.load()
        pipeline.pnl_consistent_at_start = await pipeline.pnl.start()
        yield pipeline
    finally:
        await alerter.close()
        await chain.aclose()
        await store.close()


def _wire(
    market: Market,
    store: SqlStore,
    clock: ManualClock,
    chain: RaindexChain,
    sink: RecordingSink,
    alerter: Alerter,
    broker_settings: DryRunSettings,
    ingestion_settings: IngestionSettings,
) -> Pipeline:
    repository = store.equities
    universe = market.universe()

    async def last_price(symbol: str) -> Decimal | None:
        # as the bootstrap's: the dry-run broker fills at the last onchain fill's price
        exposure = (await repository.exposures()).get(symbol)
        return exposure.last_price_usd if exposure is not None else None

    broker = DryRunBroker(clock, broker_settings, last_price=last_price)
    control = EquityControl(store.operator_actions, clock, universe.symbols)
    pnl = EquityPnl(repository, clock, alerter=alerter)
    hedger = EquityHedger(
        repository,
        broker,
        clock,
        EquityHedgerSettings(),
        symbols=universe.symbols,
        control=control,
        alerter=alerter,
        on_broker_fills=pnl.trigger,
    )
    ingestion = ChainIngestion(
        chain,
        repository,
        universe,
        clock,
        ingestion_settings,
        alerter=alerter,
        listeners=[hedger.trigger, pnl.trigger],
    )
    reconciler = LedgerReconciler(repository, clock, alerter=alerter)
    return Pipeline(
        market,
        store,
        clock,
        chain,
        broker,
        sink,
        alerter,
        control,
        ingestion,
        hedger,
        pnl,
        reconciler,
    )

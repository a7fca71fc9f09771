"""A small world for the equity services' tests: a chain in memory, the repository over the
domain's book, the dry-run broker, a manual clock, and the services wired as the bootstrap
wires them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.adapters.brokers.dry_run import DryRunBroker, DryRunSettings
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.backtest.store_funding import MemoryCollateralRepository
from pegkeeper.domain.collateral import Alert, AlertKind
from pegkeeper.domain.equities.assets import EquityAsset, EquityUniverse
from pegkeeper.domain.equities.broker import BrokerKind
from pegkeeper.domain.equities.chain import RaindexEvent, TokenInfo
from pegkeeper.domain.equities.ledger import SymbolExposure
from pegkeeper.ports import EquityRepository, MarketCalendar, OperatorActionRepository
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.equities.control import EquityControl
from pegkeeper.services.equities.hedge_gate import GateSettings, HedgeGate
from pegkeeper.services.equities.hedger import EquityHedger, EquityHedgerSettings
from pegkeeper.services.equities.ingestion import ChainIngestion, IngestionSettings
from pegkeeper.services.equities.pnl import EquityPnl
from pegkeeper.services.equities.reconciler import LedgerReconciler
from tests.fakes import FakeOperatorActionRepository, RecordingSink
from tests.fakes_equities import (
    GENESIS_S,
    OWNER,
    USDC,
    FakeChain,
    MemoryEquityRepository,
    take_order,
    token_address,
)

START_MS = (GENESIS_S + 100) * 1000


@dataclass
class World:
    clock: ManualClock
    chain: FakeChain
    repo: EquityRepository
    memory: MemoryEquityRepository | None
    broker: DryRunBroker
    alerter: Alerter
    universe: EquityUniverse
    actions: OperatorActionRepository
    control: EquityControl
    ingestion: ChainIngestion
    hedger: EquityHedger
    pnl: EquityPnl
    reconciler: LedgerReconciler

    def token(self, symbol: str) -> str:
        return next(a.tokens[0] for a in self.universe.assets if a.symbol == symbol)

    def wrapper(self, symbol: str) -> str:
        return next(a.wrapped_tokens[0] for a in self.universe.assets if a.symbol == symbol)

    def fill(
        self,
        symbol: str,
        *,
        sold: bool,
        shares: str,
        usdc: str,
        log_index: int = 0,
        wrapped: bool = False,
    ) -> RaindexEvent:
        """A take of the maker's order, in the next block to be mined."""
        stock = self.wrapper(symbol) if wrapped else self.token(symbol)
        ref = self.chain.next_ref(log_index)
        return take_order(ref, stock, maker_sold=sold, shares=Decimal(shares), usdc=Decimal(usdc))

    def mine(self, *events: RaindexEvent) -> int:
        return self.chain.mine(1, *events)[0]

    async def exposure(self, symbol: str) -> SymbolExposure:
        return (await self.repo.exposures())[symbol]

    async def step(self, reason: str = "fill") -> None:
        """Ingests up to the cutoff, then runs one hedger cycle."""
        await self.ingestion.poll_once()
        await self.hedger.cycle(reason)

    def alerts(self, kind: AlertKind) -> list[Alert]:
        return [a for a in self.alerter.sent if a.kind is kind]


def make_world(
    symbols: tuple[str, ...] = ("AAPL",),
    *,
    kind: BrokerKind = BrokerKind.FRACTIONAL,
    slippage_bps: str = "0",
    latency_ms: int = 0,
    fill_pieces: int = 1,
    range_blocks: int = 1_000,
    depth: int = 0,
    repo: EquityRepository | None = None,
    actions: OperatorActionRepository | None = None,
    broker: DryRunBroker | None = None,
    clock: ManualClock | None = None,
    chain: FakeChain | None = None,
    hedger_settings: EquityHedgerSettings | None = None,
    ingestion_settings: IngestionSettings | None = None,
    calendar: MarketCalendar | None = None,
    gate_settings: GateSettings | None = None,
    cash_usd: Decimal = Decimal(1_000_000),
    holdings: dict[str, Decimal] | None = None,
) -> World:
    """Each symbol gets one plain token (address 0x..1, 0x..2, ...) and one wrapper (0x..101,
    0x..102, ...); prices come from the onchain fills, the broker's latency from `latency_ms`."""
    clock = clock or ManualClock(START_MS)
    assets = tuple(
        EquityAsset(s, (token_address(i + 1),), (token_address(i + 0x101),))
        for i, s in enumerate(symbols)
    )
    universe = EquityUniverse.of(OWNER, USDC, assets)
    infos = {USDC: TokenInfo(USDC, 6, "USDC")}
    for asset in assets:
        infos[asset.tokens[0]] = TokenInfo(asset.tokens[0], 18, f"t{asset.symbol}")
        infos[asset.wrapped_tokens[0]] = TokenInfo(asset.wrapped_tokens[0], 18, f"wt{asset.symbol}")
    if chain is None:
        chain = FakeChain(infos, depth=depth)
        for asset in assets:
            chain.ratios[asset.wrapped_tokens[0]] = Decimal(1)
    memory = None
    if repo is None:
        memory = MemoryEquityRepository(symbols)
        repo = memory
    store = repo

    broker = broker or DryRunBroker(
        clock,
        DryRunSettings(
            kind=kind,
            slippage_bps=Decimal(slippage_bps),
            latency_ms=latency_ms,
            fill_pieces=fill_pieces,
            cash_usd=cash_usd,
            holdings=dict(holdings or {}),
        ),
        last_price=store.last_fill_price,
    )
    alerter = Alerter(RecordingSink(), MemoryCollateralRepository(), clock, AlertSettings())
    actions = actions or FakeOperatorActionRepository()
    control = EquityControl(actions, clock, symbols)
    pnl = EquityPnl(repo, clock, alerter=alerter)
    hedger = EquityHedger(
        repo,
        broker,
        clock,
        hedger_settings or EquityHedgerSettings(),
        symbols=symbols,
        control=control,
        alerter=alerter,
        on_broker_fills=pnl.trigger,
        gate=None
        if calendar is None
        else HedgeGate(broker, calendar, clock, gate_settings or GateSettings(), alerter),
    )
    ingestion = ChainIngestion(
        chain,
        repo,
        universe,
        clock,
        ingestion_settings or IngestionSettings(range_blocks=range_blocks),
        alerter=alerter,
        listeners=[hedger.trigger, pnl.trigger],
    )
    reconciler = LedgerReconciler(repo, clock, alerter=alerter)
    return World(
        clock,
        chain,
        repo,
        memory,
        broker,
        alerter,
        universe,
        actions,
        control,
        ingestion,
        hedger,
        pnl,
        reconciler,
    )


async def settle(rounds: int = 50) -> None:
    """Lets every task that can run, run (the manual clock holds the sleepers)."""
    for _ in range(rounds):
        await asyncio.sleep(0)

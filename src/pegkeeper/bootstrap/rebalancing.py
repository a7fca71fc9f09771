"""The rebalancer, built from `[equities.rebalancing]`: the maker's signer on the equities'
node, the vaults and tokens of each asset, the Alpaca Broker API's trading, tokenization,
wallet and conversion endpoints, and the store. A singleton: under the "rebalancer" lease in
a cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from eth_account import Account

from pegkeeper.adapters.brokers.alpaca import AlpacaBroker, alpaca_config
from pegkeeper.adapters.brokers.alpaca_inventory import AlpacaInventory
from pegkeeper.adapters.chain.iris import IrisClient
from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.signer import ChainSigner
from pegkeeper.adapters.chain.vault_calls import ChainReads, MoveCallBuilder
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.config.equities import EquitiesSettings
from pegkeeper.config.rebalancing import BandSettings, BridgeSettings, RebalancingSettings
from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.moves import MoveStep, StepTimeouts
from pegkeeper.domain.equities.proposals import AssetPolicy, Band
from pegkeeper.ports import Clock, RebalanceRepository
from pegkeeper.ports.inventory import Attestations
from pegkeeper.ports.inventory import ChainSigner as SignerPort
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.equities.inventory_reader import InventoryReader
from pegkeeper.services.equities.rebalance_bridge import BridgeRoute, BridgeSteps, ChainSide
from pegkeeper.services.equities.rebalance_calls import (
    ChainCalls,
    StockVault,
    VaultAccounts,
    allowances_mined,
    give_allowances,
    missing_approvals,
    send_approvals,
)
from pegkeeper.services.equities.rebalance_steps import MoveSteps
from pegkeeper.services.equities.rebalance_tx import TxSettings, TxSteps
from pegkeeper.services.equities.rebalancer import Rebalancer, RebalancerSettings
from pegkeeper.services.views.health import READY

log = structlog.get_logger("pegkeeper.equities.rebalancer")

Job = Callable[[], Awaitable[None]]
ALLOWANCE_WAIT_SECONDS = 120.0
STALLED_CYCLES = 3  # this many intervals without a cycle through: not ready


class SignerMismatch(ValueError):
    """The signing key is not the maker's: its moves would land in another owner's vaults."""


@dataclass
class RebalancerSetup:
    rebalancer: Rebalancer
    calls: ChainCalls
    signer: ChainSigner
    bridge: BridgeSteps | None = None
    closers: list[Job] = field(default_factory=list)

    async def run(self) -> None:
        """Gives the allowances the moves need (once), then cycles until cancelled."""
        sent = await give_allowances(self.calls, self.signer)
        if sent:
            await _wait_mined(self.signer, sent)
        if self.bridge is not None:
            await give_home_allowance(self.bridge)
        await self.rebalancer.run()

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()


def build_rebalancer(
    equities: EquitiesSettings, store: SqlStore, alerter: Alerter
) -> RebalancerSetup:
    settings = equities.rebalancing
    key = settings.signer_key.get_secret_value()
    address = Account.from_key(key).address.lower()
    if address != equities.order_owner.lower():
        raise SignerMismatch(
            f"the rebalancing signer is {address}, not the maker ({equities.order_owner}): the "
            "vaults it deposits into and withdraws from are the signer's own; use the maker's key"
        )
    clock = RealClock()
    node = Rpc(equities.rpc_url.get_secret_value(), timeout_s=equities.request_timeout_seconds)
    signer = ChainSigner(node, settings.signer_key)
    reads = ChainReads(node, equities.orderbook)
    builder = MoveCallBuilder()
    calls = ChainCalls(_accounts(equities), builder, signer, reads)
    config = alpaca_config(equities)
    broker = AlpacaBroker(config, clock)
    inventory = AlpacaInventory(
        config, clock, issuer=settings.issuer, network=settings.network, budgets=broker.budgets
    )
    repository = store.rebalancing
    tx = TxSteps(repository, signer, clock, _tx_settings(settings))
    closers: list[Job] = [broker.aclose, inventory.aclose, node.close]
    bridge = None
    if settings.bridge.enabled:
        usdc = equities.usdc.lower()
        orderbook_side = orderbook_chain_side(signer, tx, reads, usdc, settings.bridge)
        bridge, bridge_closers = _bridge(equities, repository, clock, builder, orderbook_side)
        closers += bridge_closers
    steps = MoveSteps(
        repository,
        inventory,
        signer,
        reads,
        calls,
        tx,
        clock,
        gas_token_price_usd=settings.gas_token_price_usd,
        bridge=bridge,
    )
    reader = InventoryReader(
        calls,
        reads,
        broker,
        store.equities,
        repository,
        clock,
        owner=address,
        wallet=inventory,
        buy_margin_bps=equities.preflight_slippage_bps,
    )
    rebalancer = Rebalancer(
        repository, steps, reader, clock, rebalancer_settings(equities), alerter=alerter
    )
    return RebalancerSetup(rebalancer, calls, signer, bridge, closers)


def rebalancer_settings(equities: EquitiesSettings) -> RebalancerSettings:
    settings = equities.rebalancing
    policies = {
        asset.symbol: AssetPolicy(
            _band(settings.bands.get(asset.symbol, settings.stock_band)),
            settings.max_shares_per_move,
        )
        for asset in equities.assets
    }
    cash_band = settings.bands.get(CASH_ASSET, settings.cash_band)
    policies[CASH_ASSET] = AssetPolicy(_band(cash_band), settings.max_usd_per_move)
    timeouts = StepTimeouts(
        {MoveStep(name): round(s * 1000) for name, s in settings.step_timeouts_seconds.items()}
    )
    return RebalancerSettings(
        policies,
        bridged=settings.bridge.enabled,
        wrapped={asset.symbol: bool(asset.wrapped_tokens) for asset in equities.assets},
        interval_seconds=settings.interval_seconds,
        timeouts=timeouts,
    )


def rebalancer_check(setup: RebalancerSetup) -> Callable[[], Awaitable[str]]:
    """Ready while cycles go through; a rebalancer up and not advancing is not."""
    interval_s = setup.rebalancer.settings.interval_seconds

    async def check() -> str:
        rebalancer = setup.rebalancer
        last = rebalancer.last_cycle_ms
        if last is None:
            return "starting: giving allowances and reading the inventory"
        age_s = (RealClock().now_ms() - last) / 1000
        if age_s > STALLED_CYCLES * interval_s:
            why = f" ({rebalancer.last_error})" if rebalancer.last_error else ""
            return f"rebalancer stalled: no cycle through for {age_s:.0f} s{why}"
        return READY

    return check


def _accounts(equities: EquitiesSettings) -> VaultAccounts:
    settings = equities.rebalancing
    stocks = {
        asset.symbol: StockVault(
            asset.symbol,
            asset.tokens[0].lower() if asset.tokens else "",
            asset.wrapped_tokens[0].lower() if asset.wrapped_tokens else "",
            settings.vault_ids[asset.symbol],
        )
        for asset in equities.assets
    }
    bridge = settings.bridge
    return VaultAccounts(
        token_messenger=bridge.orderbook_token_messenger if bridge.enabled else "",
        orderbook=equities.orderbook.lower(),
        usdc=equities.usdc.lower(),
        usdc_vault_id=settings.vault_ids[CASH_ASSET],
        redemption_wallet=settings.redemption_wallet,
        stocks=stocks,
    )


def _band(settings: BandSettings) -> Band:
    return Band(settings.target, settings.deviation)


def _tx_settings(settings: RebalancingSettings) -> TxSettings:
    return TxSettings(
        confirmations=settings.confirmations,
        bump_after_ms=round(settings.fee_bump_after_seconds * 1000),
        bump_factor=settings.fee_bump_factor,
    )


def _bridge(
    equities: EquitiesSettings,
    repository: RebalanceRepository,
    clock: Clock,
    builder: MoveCallBuilder,
    orderbook_side: ChainSide,
) -> tuple[BridgeSteps, list[Job]]:
    """The broker wallet's chain (the same key, its own node and nonces) and the bridge's
    attestation service."""
    settings = equities.rebalancing
    bridge = settings.bridge
    node = Rpc(bridge.wallet_rpc_url.get_secret_value(), timeout_s=equities.request_timeout_seconds)
    signer = ChainSigner(node, settings.signer_key)
    reads = ChainReads(node, equities.orderbook)
    home = wallet_chain_side(signer, reads, bridge, repository, clock, _tx_settings(settings))
    attestations = IrisClient(bridge.attestation_url, timeout_s=equities.request_timeout_seconds)
    steps = bridge_steps(home, orderbook_side, bridge, builder, attestations)
    return steps, [attestations.close, node.close]


def orderbook_chain_side(
    signer: SignerPort, tx: TxSteps, reads: ChainReads, usdc: str, bridge: BridgeSettings
) -> ChainSide:
    """The orderbook's chain as the bridge's steps act on it: the moves' own signer and
    transaction steps."""
    return ChainSide(
        signer,
        tx,
        reads,
        usdc,
        bridge.orderbook_token_messenger,
        bridge.orderbook_message_transmitter,
        bridge.orderbook_domain,
    )


def wallet_chain_side(
    signer: SignerPort,
    reads: ChainReads,
    bridge: BridgeSettings,
    repository: RebalanceRepository,
    clock: Clock,
    tx_settings: TxSettings,
) -> ChainSide:
    """The broker wallet's chain: `signer` holds the same key on that chain's node; its
    nonces are stored apart from the orderbook chain's."""
    home_key = f"{signer.address}@domain-{bridge.wallet_domain}"
    tx = TxSteps(repository, signer, clock, tx_settings, signer_key=home_key)
    return ChainSide(
        signer,
        tx,
        reads,
        bridge.wallet_usdc,
        bridge.wallet_token_messenger,
        bridge.wallet_message_transmitter,
        bridge.wallet_domain,
    )


def bridge_steps(
    home: ChainSide,
    orderbook: ChainSide,
    bridge: BridgeSettings,
    builder: MoveCallBuilder,
    attestations: Attestations,
) -> BridgeSteps:
    route = BridgeRoute(home, orderbook, bridge.max_fee_units, bridge.min_finality_threshold)
    return BridgeSteps(route, builder, attestations)


async def give_home_allowance(bridge: BridgeSteps) -> None:
    """The bridge's messenger on the wallet's chain may take its USDC (to burn it)."""
    home = bridge.route.home
    pairs = [(home.usdc, home.token_messenger)]
    builder = MoveCallBuilder()
    calls = await missing_approvals(home.balances, builder, home.signer.address, pairs)
    sent = await send_approvals(home.signer, calls)
    if sent:
        await _wait_mined(home.signer, sent)


async def _wait_mined(signer: SignerPort, hashes: list[str]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ALLOWANCE_WAIT_SECONDS
    while not await allowances_mined(signer, hashes):
        if loop.time() > deadline:
            raise TimeoutError(f"allowances {', '.join(hashes)} not mined after 120 s")
        await asyncio.sleep(1)

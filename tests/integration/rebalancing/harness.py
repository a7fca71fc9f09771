"""A rebalancing desk on real parts: anvil with the orderbook stand-in (its vaults), a stock
token, its ERC-4626 wrapper and USDC; the local Alpaca server with its trading, tokenization,
wallet and conversion endpoints, whose onchain effects really happen on anvil; the maker's own
signing key; a store; and the rebalancer wired as bootstrap wires it.

With a bridge (bridge_chains.py) the broker's wallet is on a second chain, and cash crosses.

The desk (chain, broker server, store) outlives the rebalancer's process: `start_process`
wires a rebalancer again from them alone, as a restarted process would, and `restart`
abandons the running one first. A `Tap` sees the repository, signer, broker and steps the
process is given and may hand it something else in their place (a wrapper that records or
crashes).

Amounts at the start, chosen so that every figure of the tests can be worked out by hand:
the maker holds `Holdings`: AAPL shares wrapped in its vault (wrapper ratio 1) and at the
broker, USDC in its USDC vault and dollars at the broker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eth_account import Account
from pydantic import SecretStr
from web3 import Web3
from web3.contract import AsyncContract

from pegkeeper.adapters.brokers.alpaca import AlpacaBroker
from pegkeeper.adapters.brokers.alpaca_config import AlpacaConfig, AlpacaMode
from pegkeeper.adapters.brokers.alpaca_inventory import AlpacaInventory
from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.signer import ChainSigner
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.chain.vault_calls import ChainReads, MoveCallBuilder
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.collateral import Alert
from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.proposals import AssetPolicy, Band
from pegkeeper.ports import Clock
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.equities.inventory_reader import InventoryReader
from pegkeeper.services.equities.rebalance_calls import (
    ChainCalls,
    StockVault,
    VaultAccounts,
    allowances_mined,
    give_allowances,
)
from pegkeeper.services.equities.rebalance_steps import MoveSteps
from pegkeeper.services.equities.rebalance_tx import TxSettings, TxSteps
from pegkeeper.services.equities.rebalancer import Rebalancer, RebalancerSettings
from pegkeeper.sim.brokers.alpaca_book import AlpacaBook
from pegkeeper.sim.brokers.alpaca_rebalancing import RebalancingSim, attach_rebalancing
from pegkeeper.sim.brokers.alpaca_records import Account as BrokerAccount
from pegkeeper.sim.brokers.alpaca_records import Position
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from pegkeeper.sim.brokers.alpaca_web3_chain import Web3Chain
from tests.anvil_chain import rpc
from tests.fakes import RecordingSink
from tests.waiting import until

if TYPE_CHECKING:
    from tests.integration.rebalancing.bridge_chains import BridgeChains

KEY_ID = "PKTESTKEY0000000000002"
SECRET_KEY = "test-secret-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
ACCOUNT_ID = "7b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
ETHER_WEI = 10**18
WAD = 10**18
USDC_UNITS = 10**6
AAPL_VAULT_ID = 7
USDC_VAULT_ID = 9
AAPL_PRICE = Decimal(190)
REDEMPTION_WALLET = "0x" + "2a" * 20
DEPOSIT_ADDRESS = "0x" + "3b" * 20
BAND = Band(Decimal("0.5"), Decimal("0.1"))
POLICIES = {
    "AAPL": AssetPolicy(BAND, Decimal(1_000)),
    CASH_ASSET: AssetPolicy(BAND, Decimal(1_000_000)),
}
SETTINGS = RebalancerSettings(POLICIES, wrapped={"AAPL": True}, interval_seconds=0.1)

Tap = Callable[[str, Any], Any]  # (role, the real object) -> what the process is given


def untapped(role: str, real: Any) -> Any:
    return real


@dataclass(frozen=True)
class Holdings:
    aapl_onchain: Decimal = Decimal(1)  # shares, wrapped in the vault
    aapl_at_broker: Decimal = Decimal(9)
    usdc_onchain: Decimal = Decimal(1_000)
    cash_at_broker: Decimal = Decimal(9_000)


SHORT_ONCHAIN = Holdings()  # both assets' onchain share 0.1: mint, cash to chain
LONG_ONCHAIN = Holdings(Decimal(9), Decimal(1), Decimal(9_000), Decimal(1_000))  # 0.9


@dataclass(frozen=True)
class Maker:
    """A market maker on the chain: its key, its own tokens and wrapper, its vaults funded
    with `holdings` (the broker's side of them is the broker book's)."""

    key: SecretStr
    holdings: Holdings
    accounts: VaultAccounts
    aapl: AsyncContract
    wrapper: AsyncContract
    usdc: AsyncContract

    @property
    def address(self) -> str:
        return str(Account.from_key(self.key.get_secret_value()).address).lower()


@dataclass
class Process:
    """What one rebalancer process builds: its clients, the services, and their closers."""

    rebalancer: Rebalancer
    reader: InventoryReader
    signer: ChainSigner
    broker: AlpacaBroker
    alerter: Alerter
    closers: list[Callable[[], Any]]

    async def close(self) -> None:
        await self.alerter.close()
        for close in reversed(self.closers):
            await close()


@dataclass
class Desk:
    world: RaindexWorld
    store: SqlStore
    server: AlpacaSimServer
    sim: RebalancingSim
    maker: Maker
    clock: Clock
    node_url: str  # the node the rebalancer talks to (anvil, or a proxy in front of it)
    settings: RebalancerSettings = SETTINGS
    bridge: BridgeChains | None = None  # the broker wallet's chain, when not the orderbook's
    gas_token_price_usd: Decimal = Decimal(0)  # gas counted in USD at this price of ether
    alerts: RecordingSink = field(default_factory=RecordingSink)  # every process's alerts
    closers: list[Callable[[], Any]] = field(default_factory=list)
    process: Process | None = None

    @property
    def rebalancer(self) -> Rebalancer:
        assert self.process is not None, "no rebalancer process is running"
        return self.process.rebalancer

    @property
    def signer(self) -> ChainSigner:
        assert self.process is not None, "no rebalancer process is running"
        return self.process.signer

    @property
    def aapl(self) -> AsyncContract:
        return self.maker.aapl

    @property
    def wrapper(self) -> AsyncContract:
        return self.maker.wrapper

    @property
    def usdc(self) -> AsyncContract:
        return self.maker.usdc

    @property
    def account(self) -> BrokerAccount:
        return self.server.book.account(ACCOUNT_ID)

    async def vault(self, token: AsyncContract, vault_id: int) -> int:
        owner = Web3.to_checksum_address(self.maker.address)
        return int(
            await self.world.orderbook.functions.vaultBalance(owner, token.address, vault_id).call()
        )

    async def wallet(self, token: AsyncContract, holder: str | None = None) -> int:
        holder = Web3.to_checksum_address(holder or self.maker.address)
        return int(await token.functions.balanceOf(holder).call())

    async def nonces(self) -> tuple[int, int]:
        """The maker's transaction count (mined, and with the node's pending pool)."""
        maker = Web3.to_checksum_address(self.maker.address)
        mined = await self.world.w3.eth.get_transaction_count(maker, "latest")
        pending = await self.world.w3.eth.get_transaction_count(maker, "pending")
        return int(mined), int(pending)

    async def cycles(self, done: object, limit: int = 60) -> None:
        """Rebalancing cycles until `done()` holds."""
        for _ in range(limit):
            await self.rebalancer.cycle()
            if await done():  # type: ignore[operator]
                return
        raise AssertionError("the rebalancer did not get there")

    async def alerted(self) -> list[Alert]:
        """The alerts delivered so far, by every process."""
        if self.process is not None:
            await self.process.alerter.drain()
        return [a for a in self.alerts.delivered if isinstance(a, Alert)]

    async def restart(self, tap: Tap = untapped) -> Rebalancer:
        """The running process abandoned (its clients closed, nothing of it kept) and a new
        one wired from the store, the chain and the broker server."""
        if self.process is not None:
            await self.process.close()
        self.process = await start_process(self, tap)
        return self.process.rebalancer

    async def close(self) -> None:
        if self.process is not None:
            await self.process.close()
        for close in reversed(self.closers):
            await close()


async def new_maker(
    world: RaindexWorld, holdings: Holdings = SHORT_ONCHAIN, *, token_messenger: str = ""
) -> Maker:
    """A new maker with ether, its tokens deployed, its vaults funded and its allowances
    given (anvil mines each transaction as it arrives); `token_messenger`: the bridge's,
    which burns its USDC, when cash crosses one."""
    account = Account.create()
    rpc(world.url, "anvil_setBalance", [account.address, hex(10 * ETHER_WEI)])
    aapl = await world.token("AAPL", 18)
    usdc = await world.token("USDC", 6)
    wrapper = await world.deploy("TestWrapper", aapl.address, "Wrapped AAPL", "wtAAPL")
    await _fund_vaults(world, account.address, holdings, (aapl, wrapper, usdc))
    accounts = VaultAccounts(
        orderbook=world.orderbook.address.lower(),
        usdc=usdc.address.lower(),
        usdc_vault_id=USDC_VAULT_ID,
        redemption_wallet=REDEMPTION_WALLET,
        token_messenger=token_messenger,
        stocks={
            "AAPL": StockVault("AAPL", aapl.address.lower(), wrapper.address.lower(), AAPL_VAULT_ID)
        },
    )
    key = SecretStr("0x" + bytes(account.key).hex())
    maker = Maker(key, holdings, accounts, aapl, wrapper, usdc)
    await _give_allowances(world, maker)
    return maker


async def open_desk(
    world: RaindexWorld,
    store: SqlStore,
    holdings: Holdings = SHORT_ONCHAIN,
    *,
    maker: Maker | None = None,
    tap: Tap = untapped,
    settings: RebalancerSettings = SETTINGS,
    clock: Clock | None = None,
    node_url: str = "",
    delay_ms: int = 0,
    bridge: BridgeChains | None = None,
    gas_token_price_usd: Decimal = Decimal(0),
) -> Desk:
    """The desk with its rebalancer process running, for `maker` (a new one holding
    `holdings` when not given). `clock` drives the rebalancer and the broker's book alike;
    `node_url` is the rebalancer's node (default: anvil); `delay_ms` how long the broker's
    tokenization and wallet requests take on that clock; `bridge`: the wallet's chain, when
    cash crosses one (bridge_chains.open_bridged_desk)."""
    clock = clock or RealClock()
    maker = maker or await new_maker(world, holdings)
    chain_effects = Web3Chain(
        world.url,
        tokens={"AAPL": maker.aapl.address},
        usdc=maker.usdc.address,
        minter=world.account,
    )
    wallet_effects = bridge.wallet_effects() if bridge is not None else None
    server = AlpacaSimServer(_book(maker.holdings, clock), key_id=KEY_ID, secret_key=SECRET_KEY)
    sim = attach_rebalancing(
        server,
        chain_effects,
        redemption_wallet=REDEMPTION_WALLET,
        deposit_address=DEPOSIT_ADDRESS,
        whitelisted=(maker.address,),
        delay_ms=delay_ms,
        wallet_chain=wallet_effects,
    )
    await server.start()
    desk = Desk(
        world,
        store,
        server,
        sim,
        maker,
        clock,
        node_url or world.url,
        settings,
        bridge,
        gas_token_price_usd,
        closers=[server.stop, chain_effects.close],
    )
    desk.process = await start_process(desk, tap)
    return desk


async def start_process(desk: Desk, tap: Tap = untapped) -> Process:
    """A rebalancer wired again from the desk's store, node, broker server and key alone."""
    config = _config(desk.server)
    broker = AlpacaBroker(config, desk.clock)
    inventory = AlpacaInventory(
        config, desk.clock, issuer="st0x", network="base", budgets=broker.budgets
    )
    node = Rpc(desk.node_url, timeout_s=5.0)
    signer = ChainSigner(node, desk.maker.key)
    reads = ChainReads(node, desk.maker.accounts.orderbook)
    repository = tap("repository", desk.store.rebalancing)
    tapped_signer = tap("signer", signer)
    calls = ChainCalls(desk.maker.accounts, MoveCallBuilder(), tapped_signer, reads)
    tx = TxSteps(repository, tapped_signer, desk.clock, TxSettings())
    closers = [broker.aclose, inventory.aclose, node.close]
    bridge = None
    if desk.bridge is not None:
        orderbook = (tapped_signer, tx, reads, desk.maker.accounts.usdc)
        bridge, more = await desk.bridge.steps(
            desk.maker.key, repository, orderbook, desk.clock, tap
        )
        closers += more
    steps = MoveSteps(
        repository,
        tap("broker", inventory),
        tapped_signer,
        reads,
        calls,
        tx,
        desk.clock,
        gas_token_price_usd=desk.gas_token_price_usd,
        bridge=bridge,
    )
    reader = InventoryReader(
        calls,
        reads,
        broker,
        desk.store.equities,
        repository,
        desk.clock,
        owner=signer.address,
        wallet=inventory,
    )
    alerter = Alerter(desk.alerts, desk.store.funding, desk.clock, AlertSettings())
    rebalancer = Rebalancer(
        repository, tap("steps", steps), reader, desk.clock, desk.settings, alerter=alerter
    )
    return Process(rebalancer, reader, signer, broker, alerter, closers)


async def _give_allowances(world: RaindexWorld, maker: Maker) -> None:
    node = Rpc(world.url, timeout_s=5.0)
    try:
        signer = ChainSigner(node, maker.key)
        reads = ChainReads(node, maker.accounts.orderbook)
        calls = ChainCalls(maker.accounts, MoveCallBuilder(), signer, reads)
        sent = await give_allowances(calls, signer)
        await until(lambda: allowances_mined(signer, sent), "allowances mined", 10)
    finally:
        await node.close()


async def _fund_vaults(
    world: RaindexWorld,
    maker: str,
    holdings: Holdings,
    tokens: tuple[AsyncContract, AsyncContract, AsyncContract],
) -> None:
    """The maker's vaults at the start, credited by the stand-in's settleFill from tokens
    minted to the orderbook."""
    book, (aapl, wrapper, usdc) = world.orderbook, tokens
    aapl_units = int(holdings.aapl_onchain * WAD)
    usdc_units = int(holdings.usdc_onchain * USDC_UNITS)
    await world.send(aapl.functions.mint(world.account, aapl_units))
    await world.send(aapl.functions.approve(wrapper.address, aapl_units))
    await world.send(wrapper.functions.deposit(aapl_units, book.address))
    await world.send(usdc.functions.mint(book.address, usdc_units))
    owner = Web3.to_checksum_address(maker)
    nothing = (usdc.address, USDC_VAULT_ID, 0)
    await world.send(
        book.functions.settleFill(owner, wrapper.address, AAPL_VAULT_ID, aapl_units, *nothing)
    )
    await world.send(
        book.functions.settleFill(owner, usdc.address, USDC_VAULT_ID, usdc_units, *nothing)
    )


def _book(holdings: Holdings, clock: Clock) -> AlpacaBook:
    account = BrokerAccount(ACCOUNT_ID, "PA3TEST00002", holdings.cash_at_broker)
    book = AlpacaBook(clock.now_ms, account)
    book.prices["AAPL"] = AAPL_PRICE
    shares = holdings.aapl_at_broker
    book.account(ACCOUNT_ID).positions["AAPL"] = Position(shares, shares * 150)
    return book


def _config(server: AlpacaSimServer) -> AlpacaConfig:
    return AlpacaConfig(
        mode=AlpacaMode.BROKER,
        paper=True,
        base_url=server.url,
        account_id=ACCOUNT_ID,
        key_id=KEY_ID,
        secret_key=SECRET_KEY,
        requests_per_minute=10_000,
        request_timeout_seconds=5.0,
    )

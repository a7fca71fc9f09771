"""A rebalancing desk on real parts: anvil with the orderbook stand-in (its vaults), a stock
token, its ERC-4626 wrapper and USDC; the local Alpaca server with its trading, tokenization,
wallet and conversion endpoints, whose onchain effects really happen on anvil; the maker's own
signing key; a store; and the rebalancer wired as bootstrap wires it.

Amounts at the start, chosen so that every figure of the tests can be worked out by hand:
the maker holds `Holdings`: AAPL shares wrapped in its vault (wrapper ratio 1) and at the
broker, USDC in its USDC vault and dollars at the broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

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
from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.proposals import AssetPolicy, Band
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
from tests.waiting import until

KEY_ID = "PKTESTKEY0000000000002"
SECRET_KEY = "test-secret-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
ACCOUNT_ID = "7b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
ETHER_WEI = 10**18
WAD = 10**18
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


@dataclass(frozen=True)
class Holdings:
    aapl_onchain: Decimal = Decimal(1)  # shares, wrapped in the vault
    aapl_at_broker: Decimal = Decimal(9)
    usdc_onchain: Decimal = Decimal(1_000)
    cash_at_broker: Decimal = Decimal(9_000)


SHORT_ONCHAIN = Holdings()  # both assets' onchain share 0.1: mint, cash to chain
LONG_ONCHAIN = Holdings(Decimal(9), Decimal(1), Decimal(9_000), Decimal(1_000))  # 0.9


@dataclass
class Desk:
    world: RaindexWorld
    store: SqlStore
    server: AlpacaSimServer
    sim: RebalancingSim
    signer: ChainSigner
    rebalancer: Rebalancer
    aapl: AsyncContract
    wrapper: AsyncContract
    usdc: AsyncContract
    closers: list  # type: ignore[type-arg]

    @property
    def account(self) -> BrokerAccount:
        return self.server.book.account(ACCOUNT_ID)

    async def vault(self, token: AsyncContract, vault_id: int) -> int:
        owner = Web3.to_checksum_address(self.signer.address)
        return int(
            await self.world.orderbook.functions.vaultBalance(owner, token.address, vault_id).call()
        )

    async def wallet(self, token: AsyncContract, holder: str | None = None) -> int:
        holder = Web3.to_checksum_address(holder or self.signer.address)
        return int(await token.functions.balanceOf(holder).call())

    async def cycles(self, done: object, limit: int = 60) -> None:
        """Rebalancing cycles until `done()` holds."""
        for _ in range(limit):
            await self.rebalancer.cycle()
            if await done():  # type: ignore[operator]
                return
        raise AssertionError("the rebalancer did not get there")

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()


async def open_desk(
    world: RaindexWorld, store: SqlStore, holdings: Holdings = SHORT_ONCHAIN
) -> Desk:
    maker = Account.create()
    rpc(world.url, "anvil_setBalance", [maker.address, hex(10 * ETHER_WEI)])
    aapl = await world.token("AAPL", 18)
    usdc = await world.token("USDC", 6)
    wrapper = await world.deploy("TestWrapper", aapl.address, "Wrapped AAPL", "wtAAPL")
    await _fund_vaults(world, maker.address, holdings, (aapl, wrapper, usdc))
    chain_effects = Web3Chain(
        world.url, tokens={"AAPL": aapl.address}, usdc=usdc.address, minter=world.account
    )
    server = AlpacaSimServer(_book(holdings), key_id=KEY_ID, secret_key=SECRET_KEY)
    sim = attach_rebalancing(
        server,
        chain_effects,
        redemption_wallet=REDEMPTION_WALLET,
        deposit_address=DEPOSIT_ADDRESS,
        whitelisted=(maker.address.lower(),),
    )
    await server.start()
    clock = RealClock()
    config = _config(server)
    broker = AlpacaBroker(config, clock)
    inventory = AlpacaInventory(
        config, clock, issuer="st0x", network="base", budgets=broker.budgets
    )
    node = Rpc(world.url, timeout_s=5.0)
    signer = ChainSigner(node, SecretStr("0x" + bytes(maker.key).hex()))
    reads = ChainReads(node, world.orderbook.address)
    accounts = VaultAccounts(
        orderbook=world.orderbook.address.lower(),
        usdc=usdc.address.lower(),
        usdc_vault_id=USDC_VAULT_ID,
        redemption_wallet=REDEMPTION_WALLET,
        stocks={
            "AAPL": StockVault("AAPL", aapl.address.lower(), wrapper.address.lower(), AAPL_VAULT_ID)
        },
    )
    calls = ChainCalls(accounts, MoveCallBuilder(), signer, reads)
    sent = await give_allowances(calls, signer)
    await until(lambda: allowances_mined(signer, sent), "allowances mined", 10)
    tx = TxSteps(store.rebalancing, signer, clock, TxSettings())
    steps = MoveSteps(store.rebalancing, inventory, signer, reads, calls, tx, clock)
    reader = InventoryReader(
        calls, reads, broker, store.equities, store.rebalancing, clock, owner=signer.address
    )
    rebalancer = Rebalancer(
        store.rebalancing,
        steps,
        reader,
        clock,
        RebalancerSettings(POLICIES, wrapped={"AAPL": True}, interval_seconds=0.1),
    )
    closers = [server.stop, chain_effects.close, broker.aclose, inventory.aclose, node.close]
    return Desk(world, store, server, sim, signer, rebalancer, aapl, wrapper, usdc, closers)


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
    usdc_units = int(holdings.usdc_onchain * 10**6)
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


def _book(holdings: Holdings) -> AlpacaBook:
    account = BrokerAccount(ACCOUNT_ID, "PA3TEST00002", holdings.cash_at_broker)
    book = AlpacaBook(RealClock().now_ms, account)
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

"""The local Alpaca server with its inventory endpoints on (tokenization, USDC wallet,
USDC/USD conversion) and the AlpacaInventory adapter talking to it over real HTTP; the
chain side in memory (MemoryChain) unless a test brings anvil. Time is a stepping clock shared
by the server's book and the adapter's request budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from pegkeeper.adapters.brokers.alpaca_config import AlpacaConfig, AlpacaMode
from pegkeeper.adapters.brokers.alpaca_inventory import AlpacaInventory
from pegkeeper.ports.inventory import InventoryBroker
from pegkeeper.sim.brokers.alpaca_book import AlpacaBook
from pegkeeper.sim.brokers.alpaca_chain import ChainEffects, MemoryChain
from pegkeeper.sim.brokers.alpaca_rebalancing import RebalancingSim, attach_rebalancing
from pegkeeper.sim.brokers.alpaca_records import Account, Position
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from tests.stepping_clock import SteppingClock

KEY_ID = "PKTESTKEY0000000000001"
SECRET_KEY = "test-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
ACCOUNT_ID = "0d3e8a6f-5b1c-4f7e-9a2d-3c4b5a6f7e8d"
START_MS = 1_704_898_800_000  # 10 January 2024, 15:00 UTC
CASH_USD = Decimal(10_000)
AAPL_HELD = Decimal(10)
USDC_HELD = Decimal(500)
MAKER_WALLET = "0x" + "11" * 20  # where minted tokens go and withdrawals are sent
REDEMPTION_WALLET = "0x" + "22" * 20
DEPOSIT_ADDRESS = "0x" + "33" * 20


@dataclass
class Inventory:
    """The server, its inventory endpoints, the chain they act on, and the adapter."""

    server: AlpacaSimServer
    sim: RebalancingSim
    chain: MemoryChain
    adapter: AlpacaInventory
    clock: SteppingClock

    @property
    def account(self) -> Account:
        return self.server.book.account(ACCOUNT_ID)


def new_book(clock: SteppingClock) -> AlpacaBook:
    book = AlpacaBook(clock.now_ms, Account(ACCOUNT_ID, "PA3TEST00001", CASH_USD))
    book.prices["AAPL"] = Decimal("190")
    account = book.account(ACCOUNT_ID)
    account.positions["AAPL"] = Position(AAPL_HELD, AAPL_HELD * 150)
    account.positions["USDCUSD"] = Position(USDC_HELD, USDC_HELD)
    return book


def server_with(
    clock: SteppingClock, chain: ChainEffects
) -> tuple[AlpacaSimServer, RebalancingSim]:
    server = AlpacaSimServer(new_book(clock), key_id=KEY_ID, secret_key=SECRET_KEY)
    sim = attach_rebalancing(
        server,
        chain,
        redemption_wallet=REDEMPTION_WALLET,
        deposit_address=DEPOSIT_ADDRESS,
        whitelisted=(MAKER_WALLET,),
    )
    return server, sim


def adapter_for(server: AlpacaSimServer, clock: SteppingClock) -> AlpacaInventory:
    config = AlpacaConfig(
        mode=AlpacaMode.BROKER,
        paper=True,
        base_url=server.url,
        account_id=ACCOUNT_ID,
        key_id=KEY_ID,
        secret_key=SECRET_KEY,
        requests_per_minute=1000,
        request_timeout_seconds=5.0,
    )
    adapter = AlpacaInventory(config, clock, issuer="st0x", network="base")
    _port: InventoryBroker = adapter  # mypy: it implements the rebalancer's port
    return adapter


@pytest.fixture
async def inventory() -> AsyncIterator[Inventory]:
    clock = SteppingClock(START_MS)
    chain = MemoryChain(("AAPL",))
    server, sim = server_with(clock, chain)
    await server.start()
    adapter = adapter_for(server, clock)
    try:
        yield Inventory(server, sim, chain, adapter, clock)
    finally:
        await adapter.aclose()
        await server.stop()

"""The inventory endpoints on a real node: anvil with the test tokens, the simulated Alpaca's
onchain effects done by Web3Chain. A completed mint puts the tokens in the maker's wallet, a
withdrawal puts the USDC there, tokens sent to the redemption wallet become a completed redeem
with that transfer's hash, and USDC sent to the deposit address is credited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from eth_typing import HexStr

from pegkeeper.adapters.brokers.alpaca_inventory import AlpacaInventory
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.domain.equities.transfers import (
    TokenizationKind,
    TokenizationStatus,
    WalletDirection,
    WalletTransferStatus,
)
from pegkeeper.sim.brokers.alpaca_records import Account
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from pegkeeper.sim.brokers.alpaca_web3_chain import Web3Chain
from tests.integration.brokers.rebalancing.conftest import (
    ACCOUNT_ID,
    DEPOSIT_ADDRESS,
    REDEMPTION_WALLET,
    START_MS,
    adapter_for,
    server_with,
)
from tests.stepping_clock import SteppingClock


@dataclass
class OnChain:
    server: AlpacaSimServer
    adapter: AlpacaInventory
    world: RaindexWorld
    chain: Web3Chain

    @property
    def account(self) -> Account:
        return self.server.book.account(ACCOUNT_ID)


@pytest.fixture
async def onchain(world: RaindexWorld) -> AsyncIterator[OnChain]:
    aapl = await world.token("AAPL", 18)
    usdc = await world.token("USDC", 6)
    chain = Web3Chain(
        world.url, tokens={"AAPL": aapl.address}, usdc=usdc.address, minter=world.account
    )
    clock = SteppingClock(START_MS)
    server, sim = server_with(clock, chain)
    sim.wallets.approve(world.owner)
    await server.start()
    adapter = adapter_for(server, clock)
    try:
        yield OnChain(server, adapter, world, chain)
    finally:
        await adapter.aclose()
        await server.stop()
        await chain.close()


async def test_tokens_and_usdc_arrive_onchain_and_a_redemption_transfer_completes_a_redeem(
    onchain: OnChain,
) -> None:
    inventory, world, chain = onchain, onchain.world, onchain.chain
    aapl = world.attach("TestToken", chain.tokens["AAPL"])
    usdc = world.attach("TestToken", chain.usdc_token)
    maker = world.owner

    await inventory.adapter.request_mint("AAPL", Decimal(2), maker, "mint-onchain-1")
    minted = await inventory.adapter.tokenization_request_by_issuer_id("mint-onchain-1")
    receipt = await world.w3.eth.get_transaction_receipt(HexStr(minted.tx_hash))

    assert minted.status is TokenizationStatus.COMPLETED
    assert receipt["status"] == 1
    assert await aapl.functions.balanceOf(maker).call() == 2 * 10**18
    assert inventory.account.positions["AAPL"].qty == Decimal(8)

    await inventory.adapter.withdraw_usdc(Decimal("75.5"), maker)
    await inventory.adapter.wallet_transfers(START_MS)  # PENDING -> PROCESSING: sent
    [withdrawn] = await inventory.adapter.wallet_transfers(START_MS)

    assert withdrawn.status is WalletTransferStatus.COMPLETE
    assert await usdc.functions.balanceOf(maker).call() == 75_500_000

    redemption = world.w3.to_checksum_address(REDEMPTION_WALLET)
    redeemed = await world.w3.eth.send_transaction(
        {
            "from": maker,
            "to": aapl.address,
            "data": aapl.encode_abi("transfer", args=[redemption, 15 * 10**17]),
        }
    )
    await world.w3.eth.wait_for_transaction_receipt(redeemed)
    await inventory.adapter.tokenization_requests(TokenizationKind.REDEEM, START_MS)
    [redeem] = await inventory.adapter.tokenization_requests(TokenizationKind.REDEEM, START_MS)

    assert redeem.tx_hash == "0x" + bytes(redeemed).hex()
    assert (redeem.status, redeem.qty) == (TokenizationStatus.COMPLETED, Decimal("1.5"))
    assert inventory.account.positions["AAPL"].qty == Decimal("9.5")  # 10 - 2 + 1.5

    deposited = await usdc.functions.transfer(
        world.w3.to_checksum_address(DEPOSIT_ADDRESS), 25_000_000
    ).transact({"from": maker})
    await world.w3.eth.wait_for_transaction_receipt(deposited)
    await inventory.adapter.wallet_transfers(START_MS)
    [deposit] = [
        t
        for t in await inventory.adapter.wallet_transfers(START_MS)
        if t.direction is WalletDirection.INCOMING
    ]

    assert (deposit.amount, deposit.status) == (Decimal(25), WalletTransferStatus.COMPLETE)
    assert await inventory.adapter.usdc_balance() == Decimal("449.5")  # 500 - 75.5 + 25

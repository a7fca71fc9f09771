"""A redeem's chain steps on anvil with the real OrderBook V4 vault signatures: wrap, deposit2,
a fill that sells part of the vault, withdraw2 asking more than is left, unwrap; each amount
read from the receipt (TxOutcome.received) and computed by hand, with 1.05 underlying per
wrapped share."""

from __future__ import annotations

import json
from pathlib import Path

from eth_utils.abi import function_abi_to_4byte_selector

from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.signer import ChainSigner
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.chain.vault_calls import (
    DEPOSIT2,
    VAULT_BALANCE,
    WITHDRAW2,
    ChainReads,
    erc20_approve,
    vault_deposit2,
    vault_withdraw2,
    wrapper_deposit,
    wrapper_redeem,
)
from tests.integration.chain.rebalancing.conftest import execute

ORDERBOOK_V4_ABI = Path("/work/shared/data/raindex/IOrderBookV4.abi.json")
VAULT_ID = 7
TEN_SHARES = 10 * 10**18
# 10 / 1.05 = 9.523809523809523809523..., truncated to 18 decimals by the wrapper
WRAPPED = 9_523_809_523_809_523_809
SOLD = 2 * 10**18  # wrapped shares a fill took out of the vault
USDC_IN = 300_000_000  # 300 USDC the fill paid into the vault
LEFT = WRAPPED - SOLD  # 7_523_809_523_809_523_809
# 7.523809523809523809 x 1.05 = 7.89999999999999999945, truncated to 18 decimals
UNWRAPPED = 7_899_999_999_999_999_999


def test_the_vault_calls_have_orderbook_v4_selectors() -> None:
    abi = json.loads(ORDERBOOK_V4_ABI.read_text(encoding="utf-8"))
    real = {
        entry["name"]: function_abi_to_4byte_selector(entry)
        for entry in abi
        if entry.get("type") == "function"
    }
    assert (real["deposit2"], real["withdraw2"]) == (DEPOSIT2, WITHDRAW2)
    assert real["vaultBalance"] == VAULT_BALANCE


async def test_wrap_deposit_withdraw_more_than_left_and_unwrap(
    world: RaindexWorld, signer: ChainSigner, node_rpc: Rpc
) -> None:
    me = signer.address
    stock = await world.token("AAPL", 18)
    usdc = await world.token("USDC", 6)
    wrapper = await world.deploy("TestWrapper", stock.address, "wrapped AAPL", "wAAPL")
    await world.send(wrapper.functions.setAssetsPerShare(1_050_000_000_000_000_000))
    await world.send(stock.functions.mint(world.w3.to_checksum_address(me), TEN_SHARES))
    orderbook = str(world.orderbook.address).lower()
    stock_a, usdc_a, wrapper_a = (str(c.address).lower() for c in (stock, usdc, wrapper))
    reads = ChainReads(node_rpc, orderbook)

    await execute(signer, erc20_approve(stock_a, wrapper_a, TEN_SHARES))
    wrapped = await execute(signer, wrapper_deposit(wrapper_a, TEN_SHARES, me))
    await execute(signer, erc20_approve(wrapper_a, orderbook, WRAPPED))
    deposited = await execute(signer, vault_deposit2(orderbook, wrapper_a, VAULT_ID, WRAPPED))
    after_deposit = await reads.vault_balance(me, wrapper_a, VAULT_ID, deposited.block_number or 0)
    # onchain selling: a taker pays 300 USDC into the vault for 2 wrapped shares
    await world.send(usdc.functions.mint(world.orderbook.address, USDC_IN))
    await world.send(
        world.orderbook.functions.settleFill(
            world.w3.to_checksum_address(me),
            usdc.address,
            VAULT_ID,
            USDC_IN,
            wrapper.address,
            VAULT_ID,
            SOLD,
        )
    )
    withdrawn = await execute(signer, vault_withdraw2(orderbook, wrapper_a, VAULT_ID, WRAPPED))
    block = withdrawn.block_number or 0
    shares_back = withdrawn.received(wrapper_a, me)
    preview = await reads.wrapper_assets(wrapper_a, shares_back, block)
    unwrapped = await execute(signer, wrapper_redeem(wrapper_a, shares_back, me, me))
    final = await reads.pin(unwrapped.block_number or 0)

    assert wrapped.received(wrapper_a, me) == WRAPPED
    assert wrapped.received(stock_a, wrapper_a) == TEN_SHARES
    assert deposited.received(wrapper_a, orderbook) == WRAPPED
    assert after_deposit == WRAPPED
    assert shares_back == LEFT  # asked for WRAPPED, got what was left
    assert await reads.vault_balance(me, wrapper_a, VAULT_ID, block) == 0
    assert await reads.vault_balance(me, usdc_a, VAULT_ID, block) == USDC_IN
    assert preview == UNWRAPPED
    assert unwrapped.received(stock_a, me) == UNWRAPPED
    assert await reads.token_balance(stock_a, me, final) == UNWRAPPED
    assert await reads.token_balance(wrapper_a, me, final) == 0
    assert await reads.allowance(wrapper_a, me, orderbook, final) == 0  # all spent


async def test_withdraw_from_an_empty_vault_moves_nothing(
    world: RaindexWorld, signer: ChainSigner
) -> None:
    stock = str((await world.token("AAPL", 18)).address).lower()
    orderbook = str(world.orderbook.address).lower()

    outcome = await execute(signer, vault_withdraw2(orderbook, stock, VAULT_ID, 10**18))

    assert outcome.received(stock, signer.address) == 0
    assert outcome.transfers == ()

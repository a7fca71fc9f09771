"""Tokens read through the chain adapter: decimals and a readable label, a token whose symbol()
reverts, an address that is not a contract, and the wrapper's underlying shares per token at
a block before and after a dividend and a split."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.chain.stand_in import WAD, RaindexWorld
from pegkeeper.domain.equities.chain import TokenInfo
from pegkeeper.domain.errors import ChainCallReverted, InvalidInput
from tests.chain_rpc_proxy import RpcProxy


async def test_decimals_and_labels(world: RaindexWorld, chain: RaindexChain) -> None:
    stock = await world.token("tAAPL", 18)
    usdc = await world.token("USDC", 6)

    assert await chain.token(stock.address) == TokenInfo(stock.address.lower(), 18, "tAAPL")
    assert await chain.token(usdc.address.lower()) == TokenInfo(usdc.address.lower(), 6, "USDC")


async def test_a_symbol_that_reverts_gives_an_empty_label(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    unlabelled = await world.deploy("UnlabelledToken", 18)

    assert await chain.token(unlabelled.address) == TokenInfo(unlabelled.address.lower(), 18, "")


async def test_an_account_without_code_is_not_a_token(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    with pytest.raises(ChainCallReverted, match=r"is not a contract"):
        await chain.token(world.taker)


async def test_a_contract_without_decimals_is_not_a_token(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    with pytest.raises(ChainCallReverted, match=r"decimals\(\) reverted"):
        await chain.token(world.orderbook.address)


async def test_a_malformed_address_is_refused_before_any_call(chain: RaindexChain) -> None:
    with pytest.raises(InvalidInput, match=r"token address '0x12': expected 0x followed by 40"):
        await chain.token("0x12")


async def test_a_token_calling_itself_wtaapl_is_not_a_wrapper(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    spoof = await world.token("wtAAPL", 18)
    head = await world.head()

    assert (await chain.token(spoof.address)).label == "wtAAPL"
    with pytest.raises(ChainCallReverted, match=r"asset\(\) reverted"):
        await chain.shares_per_token(spoof.address, head)


async def test_the_wrapper_ratio_is_read_at_the_fills_block(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    created_before = await world.head()
    underlying = await world.token("tAAPL", 18)
    wrapper = await world.deploy("TestWrapper", underlying.address, "Wrapped tAAPL", "wtAAPL")
    at_start = await world.head()
    dividend = await world.send(wrapper.functions.setAssetsPerShare(105 * WAD // 100))
    split = await world.send(wrapper.functions.setAssetsPerShare(2 * 105 * WAD // 100))

    assert await chain.shares_per_token(wrapper.address, at_start) == Decimal(1)
    assert await chain.shares_per_token(wrapper.address, dividend.block_number) == Decimal("1.05")
    assert await chain.shares_per_token(wrapper.address, split.block_number) == Decimal("2.1")
    # an old block still answers its own ratio
    assert await chain.shares_per_token(wrapper.address, at_start) == Decimal(1)
    with pytest.raises(ChainCallReverted, match=r"is not a contract"):
        await chain.shares_per_token(wrapper.address, created_before)


async def test_a_token_read_asks_the_node_three_things(
    world: RaindexWorld, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    stock = await world.token("tAAPL", 18)

    await proxied_chain.token(stock.address)

    assert proxy.calls == ["eth_getCode", "eth_call", "eth_call"]  # code, decimals, symbol

"""A node behind the block a read must see (a replica behind a load balancer): the read is
refused with ChainLagging instead of answering the state from before the transaction."""

from __future__ import annotations

import pytest

from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.signer import ChainSigner
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.chain.vault_calls import ChainReads, erc20_approve, vault_deposit2
from pegkeeper.domain.errors import ChainIncomplete, ChainLagging
from tests.chain_rpc_proxy import RpcProxy
from tests.integration.chain.rebalancing.conftest import execute

VAULT_ID = 3
DEPOSIT_UNITS = 4 * 10**18


async def test_reads_behind_the_deposit_block_are_refused(
    world: RaindexWorld, signer: ChainSigner, proxy: RpcProxy
) -> None:
    stock = await world.token("AAPL", 18)
    token, orderbook = str(stock.address).lower(), str(world.orderbook.address).lower()
    await world.send(
        stock.functions.mint(world.w3.to_checksum_address(signer.address), DEPOSIT_UNITS)
    )
    await execute(signer, erc20_approve(token, orderbook, DEPOSIT_UNITS))
    deposit = await execute(signer, vault_deposit2(orderbook, token, VAULT_ID, DEPOSIT_UNITS))
    block = deposit.block_number or 0
    proxy.misbehave.head_lag_blocks = 2
    stale = Rpc(proxy.url, timeout_s=5.0)
    reads = ChainReads(stale, orderbook)
    try:
        with pytest.raises(ChainLagging) as pinned:
            await reads.pin(min_block=block)
        with pytest.raises(ChainIncomplete, match=f"behind block {block}"):
            await reads.vault_balance(signer.address, token, VAULT_ID, block)
        with pytest.raises(ChainLagging):
            await reads.token_balance(token, signer.address, block)
        behind = await reads.pin()  # without a minimum, the stale head is what it is
        before = await reads.vault_balance(signer.address, token, VAULT_ID, behind)
        proxy.misbehave.head_lag_blocks = 0  # caught up
        after = await reads.vault_balance(signer.address, token, VAULT_ID, await reads.pin(block))
    finally:
        await stale.close()

    assert (pinned.value.head_block, pinned.value.min_block) == (block - 2, block)
    assert "k3y" not in str(pinned.value)  # the proxy's URL secret stays out
    assert (before, after) == (0, DEPOSIT_UNITS)

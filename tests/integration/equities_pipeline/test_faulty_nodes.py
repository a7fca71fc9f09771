"""Nodes that do not have everything yet (the RpcProxy in front of anvil): a page without a
Clear's AfterClear, read from the receipt when the receipt has it and waited for when it does
not, and a node whose head lags behind the cutoff. The checkpoint never passes the block not
read; ingestion completes, each fill once, when the node is whole."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.adapters.chain.raindex_abi import AFTER_CLEAR_V2
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.domain.errors import ChainIncomplete
from pegkeeper.domain.orders import OrderSide
from tests.chain_rpc_proxy import RpcProxy, in_tx_and_topic
from tests.integration.equities_pipeline.market import Market, Via, fill_id
from tests.integration.equities_pipeline.pipeline import running_pipeline

D = Decimal
BUY = OrderSide.BUY
SAFE_DEPTH = 32  # anvil's "safe" block: one epoch of 32 slots behind its head


def last_range_end(deployment_block: int, range_blocks: int, below: int) -> int:
    """Where the checkpoint stops: the end of the last range, counted from the deployment
    block, that ends before block `below`."""
    return deployment_block - 1 + range_blocks * ((below - deployment_block) // range_blocks)


async def test_an_after_clear_missing_from_the_page_is_read_from_the_receipt_once_it_has_it(
    world: RaindexWorld, proxy: RpcProxy, database_url: str
) -> None:
    market = await Market.open(world, ("AAPL",))
    async with running_pipeline(
        database_url, market, rpc_url=proxy.url, range_blocks=5
    ) as pipeline:
        await market.mine(6)
        before = await market.sell("AAPL", "1", "200")
        await market.mine(6)
        clear = await market.sell("AAPL", "2", "400", via=Via.CLEAR_V5)
        await market.mine(3)
        after = await market.buy("AAPL", "0.5", "99")
        dropped = in_tx_and_topic(clear.tx_hash, AFTER_CLEAR_V2.topic0)
        proxy.misbehave.drop_logs = dropped
        proxy.misbehave.drop_receipt_logs = dropped

        with pytest.raises(ChainIncomplete, match=r"missing from the logs and the receipt"):
            await pipeline.ingest()

        checkpoint = await pipeline.repo.checkpoint()
        stops_at = last_range_end(market.deployment_block, 5, clear.block_number)
        assert checkpoint is not None and checkpoint.number == stops_at < clear.block_number
        assert stops_at >= before.block_number  # the ranges before it are recorded
        assert [f.fill_id for f in await pipeline.stored_fills()] == [fill_id(before)]
        await pipeline.hedge()
        assert pipeline.orders() == [("AAPL", BUY, D(1))]

        # the receipt has the AfterClear again (the page still lacks it)
        proxy.misbehave.drop_receipt_logs = None
        asked = len(proxy.calls)
        new, _ = await pipeline.step()

        assert "eth_getTransactionReceipt" in proxy.calls[asked:]
        assert [f.fill_id for f in new] == [fill_id(clear), fill_id(after)]
        assert [f.shares for f in new] == [D(2), D("0.5")]
        checkpoint = await pipeline.repo.checkpoint()
        assert checkpoint is not None and checkpoint.number == await market.head()
        # -2 + 0.5
        assert pipeline.orders() == [("AAPL", BUY, D(1)), ("AAPL", BUY, D("1.5"))]
        assert await pipeline.exposures() == {"AAPL": D(0)}
        await pipeline.assert_whole()


async def test_a_node_lagging_behind_the_cutoff_holds_the_checkpoint_until_it_catches_up(
    world: RaindexWorld, proxy: RpcProxy, database_url: str
) -> None:
    market = await Market.open(world, ("AAPL",))
    await market.mine(10)
    early = await market.sell("AAPL", "1", "200")
    await market.mine(20)
    late = await market.sell("AAPL", "2", "404")
    await market.mine(35)
    head = await market.head()
    async with running_pipeline(
        database_url, market, rpc_url=proxy.url, cutoff="safe", range_blocks=4
    ) as pipeline:
        # the safe block comes from a node at the head; logs and the head from one 40 behind
        proxy.misbehave.head_lag_blocks = 40
        visible = head - 40
        assert visible < late.block_number < head - SAFE_DEPTH

        with pytest.raises(ChainIncomplete, match=rf"head {visible} is behind the range's end"):
            await pipeline.ingest()

        checkpoint = await pipeline.repo.checkpoint()
        stops_at = last_range_end(market.deployment_block, 4, visible + 1)
        assert checkpoint is not None and checkpoint.number == stops_at < late.block_number
        assert [f.fill_id for f in await pipeline.stored_fills()] == [fill_id(early)]
        await pipeline.hedge()
        assert pipeline.orders() == [("AAPL", BUY, D(1))]

        proxy.misbehave.head_lag_blocks = 0
        new, _ = await pipeline.step()

        assert [f.fill_id for f in new] == [fill_id(late)]
        checkpoint = await pipeline.repo.checkpoint()
        assert checkpoint is not None and checkpoint.number == head - SAFE_DEPTH
        assert pipeline.orders() == [("AAPL", BUY, D(1)), ("AAPL", BUY, D(2))]
        assert await pipeline.exposures() == {"AAPL": D(0)}
        assert [f.fill_id for f in await pipeline.stored_fills()] == [
            fill_id(early),
            fill_id(late),
        ]
        await pipeline.assert_whole()

"""Reorgs of depth 1 (evm_snapshot, evm_revert, then a new block) and of depth 5 (anvil_reorg)
replacing the block of a fill: before its hedge the exposure is undone and no order is sent;
after its hedge an alert is raised and a correcting order goes the opposite way."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.adapters.chain.stand_in import RaindexWorld, Sent
from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.orders import OrderSide
from tests.integration.equities_pipeline.market import Market, fill_id
from tests.integration.equities_pipeline.pipeline import Pipeline, running_pipeline

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
DEPTHS = [pytest.param(1, id="depth-1-revert"), pytest.param(5, id="depth-5-anvil-reorg")]


class Reorg:
    """Replaces the newest `depth` blocks: depth 1 by returning to a snapshot taken before
    them and mining a block again, deeper ones with anvil_reorg (same height, other blocks)."""

    def __init__(self, world: RaindexWorld, depth: int) -> None:
        self.world = world
        self.depth = depth
        self._snapshot = ""

    async def fill_then_blocks(self, market: Market) -> Sent:
        """A fill (the maker sells 2 AAPL at 202) in the first of the blocks to replace."""
        if self.depth == 1:
            self._snapshot = await self.world.snapshot()
        sent = await market.sell("AAPL", "2", "404")
        await market.mine(self.depth - 1)
        return sent

    async def replace(self, gone: Sent) -> None:
        head = await self.world.head()
        if self.depth == 1:
            await self.world.revert(self._snapshot)
            await self.world.mine(1)
        else:
            await self.world.w3.provider.make_request("anvil_reorg", [self.depth, []])
        assert await self.world.head() == head
        assert await self.world.block_hash(gone.block_number) != gone.block_hash
        assert await self.world.block_hash(gone.block_number - 1) != ""


async def hedged_first_fill(pipeline: Pipeline) -> Sent:
    """A fill below the reorg (the maker sells 1 AAPL at 200), hedged: it stays throughout."""
    kept = await pipeline.market.sell("AAPL", "1", "200")
    await pipeline.step()
    assert pipeline.orders() == [("AAPL", BUY, D(1))]
    return kept


@pytest.mark.parametrize("depth", DEPTHS)
async def test_a_reorg_before_the_hedge_undoes_the_exposure_and_sends_no_order(
    world: RaindexWorld, database_url: str, depth: int
) -> None:
    market = await Market.open(world, ("AAPL",))
    async with running_pipeline(database_url, market) as pipeline:
        kept = await hedged_first_fill(pipeline)
        reorg = Reorg(world, depth)
        gone = await reorg.fill_then_blocks(market)
        assert [f.fill_id for f in await pipeline.ingest()] == [fill_id(gone)]
        assert await pipeline.exposures() == {"AAPL": D(-2)}

        await reorg.replace(gone)
        assert await pipeline.ingest() == []

        assert await pipeline.exposures() == {"AAPL": D(0)}
        assert await pipeline.hedge() == []
        assert pipeline.orders() == [("AAPL", BUY, D(1))]
        stored = await pipeline.stored_fills()
        assert [(f.fill_id, f.reverted) for f in stored] == [
            (fill_id(kept), False),
            (fill_id(gone), True),
        ]
        figures = pipeline.ingestion.figures()
        assert (figures.reorgs, figures.fills_reverted) == (1, 1)
        checkpoint = await pipeline.repo.checkpoint()
        assert checkpoint is not None
        assert checkpoint.hash == await world.block_hash(await market.head())  # read again
        assert await pipeline.alerts(AlertKind.EQUITY_FILL_REVERTED) == []  # nothing hedged

        # the new chain goes on: only its own fill is hedged
        await market.sell("AAPL", "0.5", "101")
        await pipeline.step()
        assert pipeline.orders() == [("AAPL", BUY, D(1)), ("AAPL", BUY, D("0.5"))]
        assert await pipeline.exposures() == {"AAPL": D(0)}
        await pipeline.assert_whole()


@pytest.mark.parametrize("depth", DEPTHS)
async def test_a_reorg_after_the_hedge_alerts_and_sends_a_correcting_order(
    world: RaindexWorld, database_url: str, depth: int
) -> None:
    market = await Market.open(world, ("AAPL",))
    async with running_pipeline(database_url, market, slippage_bps="10") as pipeline:
        await hedged_first_fill(pipeline)
        reorg = Reorg(world, depth)
        gone = await reorg.fill_then_blocks(market)
        await pipeline.step()
        assert pipeline.orders()[1:] == [("AAPL", BUY, D(2))]
        assert await pipeline.exposures() == {"AAPL": D(0)}

        await reorg.replace(gone)
        assert await pipeline.ingest() == []

        # the broker holds 2 shares the chain no longer owes
        assert await pipeline.exposures() == {"AAPL": D(2)}
        (alert,) = await pipeline.alerts(AlertKind.EQUITY_FILL_REVERTED)
        assert alert.details["fill_id"] == fill_id(gone)
        assert alert.details["symbol"] == "AAPL"
        assert await pipeline.reconciler.check() == []  # a broker remainder, not a break

        await pipeline.hedge()

        assert pipeline.orders()[2:] == [("AAPL", SELL, D(2))]
        assert await pipeline.exposures() == {"AAPL": D(0)}
        # FIFO: onchain sell 1 at 200, broker buy 1 at 200.2 (-0.2); the reverted fill leaves
        # the broker's buy of 2 at 202.202 alone, closed by the correcting sell of 2 at the
        # last live onchain price, 200, less 10 bps: 199.8 (-4.804)
        aapl = pipeline.pnl.symbols()["AAPL"]
        assert (aapl.realised_usd, aapl.position_shares) == (D("-5.004"), D(0))
        await pipeline.assert_whole()

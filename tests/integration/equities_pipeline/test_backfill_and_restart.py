"""The pipeline over anvil and each database: a backfill from the deployment block over a few
thousand blocks read in bounded ranges, and a restart (new service objects over the same
database, the chain moved on meanwhile) that neither loses nor repeats a fill."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.chain.stand_in import RaindexWorld, Sent
from pegkeeper.domain.equities.pnl import PnlBucket
from pegkeeper.domain.orders import OrderSide
from tests.chain_rpc_proxy import RpcProxy
from tests.integration.equities_pipeline.market import Market, Via, fill_id
from tests.integration.equities_pipeline.pipeline import running_pipeline

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL

RANGE_BLOCKS = 250
# (block after the deployment block, symbol, the maker sells, shares, USDC); ranges of 250
# blocks: 249 ends the first, 250 starts the second
BACKFILL = [
    (100, "AAPL", True, "1.5", "300"),  # -1.5 at 200
    (249, "MSFT", False, "2", "800"),  # +2 at 400
    (250, "AAPL", True, "0.25", "50.5"),  # -0.25 at 202
    (731, "MSFT", True, "0.5", "201"),  # -0.5 at 402
    (1000, "AAPL", False, "0.75", "149.25"),  # +0.75 at 199
    (1499, "AAPL", True, "3", "606"),  # -3 at 202
    (1812, "MSFT", False, "1.25", "500"),  # +1.25 at 400
    (2240, "AAPL", True, "0.125", "25.25"),  # -0.125 at 202
]


async def test_a_backfill_of_thousands_of_blocks_ingests_each_fill_once_and_hedges(
    world: RaindexWorld, proxy: RpcProxy, database_url: str
) -> None:
    market = await Market.open(world, ("AAPL", "MSFT"))
    sent: list[Sent] = []
    for n, (offset, symbol, sells, shares, usdc) in enumerate(BACKFILL):
        await market.mine(market.deployment_block + offset - await market.head() - 1)
        fill = market.sell if sells else market.buy
        sent.append(await fill(symbol, shares, usdc, via=Via.TAKE_V4 if n == 3 else Via.TAKE_V5))
    assert [s.block_number - market.deployment_block for s in sent] == [f[0] for f in BACKFILL]
    await market.mine(300)
    head = await market.head()
    assert head - market.deployment_block > 2_500

    async with running_pipeline(
        database_url, market, rpc_url=proxy.url, range_blocks=RANGE_BLOCKS, slippage_bps="10"
    ) as pipeline:
        new = await pipeline.ingest()
        checkpoint = await pipeline.repo.checkpoint()

        assert checkpoint is not None and checkpoint.number == head
        # one eth_getLogs per range of 250 blocks from the deployment block to the head
        ranges = -(-(head - market.deployment_block + 1) // RANGE_BLOCKS)
        assert proxy.calls.count("eth_getLogs") == ranges >= 11
        assert checkpoint.hash == await world.block_hash(head)
        assert [f.fill_id for f in new] == [fill_id(s) for s in sent]
        assert [f.fill_id for f in await pipeline.stored_fills()] == [fill_id(s) for s in sent]
        # AAPL: -1.5 - 0.25 + 0.75 - 3 - 0.125; MSFT: +2 - 0.5 + 1.25
        assert await pipeline.exposures() == {"AAPL": D("-4.125"), "MSFT": D("2.75")}
        figures = pipeline.ingestion.figures()
        assert (figures.polls, figures.fills_ingested) == (1, 8)

        await pipeline.hedge()

        assert pipeline.orders() == [("AAPL", BUY, D("4.125")), ("MSFT", SELL, D("2.75"))]
        assert await pipeline.exposures() == {"AAPL": D(0), "MSFT": D(0)}
        assert await pipeline.ingest() == []  # nothing new, nothing twice
        # the dry-run broker fills at the last onchain price, 10 bps against the maker:
        # AAPL 202 -> buys at 202.202; MSFT 400 -> sells at 399.6
        covers = await pipeline.repo.fills_of("AAPL", 100)
        assert {b.price_usd for c in covers for _, b in c.covers} == {D("202.202")}
        covers = await pipeline.repo.fills_of("MSFT", 100)
        assert {b.price_usd for c in covers for _, b in c.covers} == {D("399.6")}
        # FIFO, AAPL: the buy of 0.75 at 199 closes 0.75 of the lot sold at 200 (+0.75); the
        # broker's 4.125 at 202.202 closes 0.75 at 200 (-1.6515), 0.25 at 202 (-0.0505),
        # 3 at 202 (-0.606) and 0.125 at 202 (-0.02525)
        aapl = pipeline.pnl.symbols()["AAPL"]
        assert aapl.realised_usd == D("-1.58325")
        assert aapl.realised_by_bucket_usd[PnlBucket.ONCHAIN_NETTING] == D("0.75")
        assert aapl.position_shares == 0
        # MSFT: the sell of 0.5 at 402 closes 0.5 bought at 400 (+1); the broker's 2.75 at
        # 399.6 closes 1.5 at 400 and 1.25 at 400 (-1.1)
        assert pipeline.pnl.symbols()["MSFT"].realised_usd == D("-0.1")
        await pipeline.assert_whole()


async def test_a_restart_resumes_where_it_stopped_without_losing_or_repeating_a_fill(
    world: RaindexWorld, database_url: str
) -> None:
    market = await Market.open(world, ("AAPL", "MSFT"))
    first = [
        await market.sell("AAPL", "2", "400"),
        await market.buy("MSFT", "1", "400", via=Via.CLEAR_V5),
    ]
    async with running_pipeline(database_url, market, range_blocks=50) as before:
        await before.step()
        assert before.orders() == [("AAPL", BUY, D(2)), ("MSFT", SELL, D(1))]
        # a fill read, and the process stops before its hedge
        unhedged = await market.sell("AAPL", "0.5", "101", via=Via.TAKE_V4)
        assert [f.fill_id for f in await before.ingest()] == [fill_id(unhedged)]
        stopped_at = await before.repo.checkpoint()
        clock = before.clock
    assert stopped_at is not None and stopped_at.number == unhedged.block_number

    # the chain moves on while nothing reads it
    await market.mine(120)
    later = [await market.sell("AAPL", "1", "202")]
    await market.mine(80)
    later.append(await market.buy("MSFT", "0.25", "100.5", via=Via.CLEAR_V4))
    await market.mine(30)

    async with running_pipeline(database_url, market, clock=clock, range_blocks=50) as after:
        assert after.pnl_consistent_at_start  # the stored P&L is the replay of the trades
        assert await after.exposures() == {"AAPL": D("-0.5"), "MSFT": D(0)}

        new = await after.ingest()
        await after.hedge()

        assert [f.fill_id for f in new] == [fill_id(s) for s in later]
        # the unhedged 0.5 and the new 1 in one order; MSFT's new 0.25
        assert after.orders() == [("AAPL", BUY, D("1.5")), ("MSFT", SELL, D("0.25"))]
        assert await after.exposures() == {"AAPL": D(0), "MSFT": D(0)}
        stored = await after.stored_fills()
        assert [f.fill_id for f in stored] == [fill_id(s) for s in (*first, unhedged, *later)]
        assert not any(f.reverted for f in stored)
        orders = (await after.repo.ledger_snapshot()).broker_orders
        assert len({o.intent.client_order_id for o in orders}) == 4  # the ids go on, no reuse
        await after.assert_whole()

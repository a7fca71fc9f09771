"""What a fill is made of, through the whole pipeline: a wrapped stock at 1.05 and after a 2:1
split (converted at the fill's block, priced per underlying share), a spoofed token calling
itself wtAAPL, a wrap pair tAAPL/wtAAPL, the spec's production Float words, and both
generations of events in one run."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.chain.stand_in import FLOAT_160_15507752, FLOAT_TWO, RaindexWorld
from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.equities.chain import Generation, OnchainSide
from pegkeeper.domain.orders import OrderSide
from tests.integration.equities_pipeline.market import Market, Via, decimal_word, fill_id
from tests.integration.equities_pipeline.pipeline import running_pipeline

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


async def test_a_wrapped_stock_is_converted_at_the_ratio_of_its_fills_block(
    world: RaindexWorld, database_url: str
) -> None:
    market = await Market.open(world, ("AAPL",), wrapped=("AAPL",))
    await market.set_assets_per_share("AAPL", D("1.05"))  # a dividend reinvested
    dividend = await market.sell("AAPL", "2", "420", wrapped=True)
    await market.set_assets_per_share("AAPL", D("2.1"))  # then a 2:1 split
    split = await market.sell("AAPL", "1", "210", wrapped=True)
    plain = await market.buy("AAPL", "1", "100")  # the plain token: one share

    async with running_pipeline(database_url, market) as pipeline:
        new, _ = await pipeline.step()  # all three read in one range, after the split

        assert [f.fill_id for f in new] == [fill_id(s) for s in (dividend, split, plain)]
        # 2 wtAAPL x 1.05 = 2.1 shares for 420 USDC: 200 a share; 1 x 2.1 = 2.1 for 210: 100
        assert [(f.shares_per_token, f.shares, f.usdc, f.price_usd) for f in new] == [
            (D("1.05"), D("2.1"), D(420), D(200)),
            (D("2.1"), D("2.1"), D(210), D(100)),
            (D(1), D(1), D(100), D(100)),
        ]
        assert [f.token for f in new] == [
            market.wrappers["AAPL"].lower(),
            market.wrappers["AAPL"].lower(),
            market.tokens["AAPL"].lower(),
        ]
        stored = await pipeline.stored_fills()
        assert [(f.signed_shares, f.usdc, f.price_usd) for f in stored] == [
            (D("-2.1"), D(420), D(200)),
            (D("-2.1"), D(210), D(100)),
            (D(1), D(100), D(100)),
        ]
        # -2.1 - 2.1 + 1 underlying shares, hedged at the last price per share, 100
        assert pipeline.orders() == [("AAPL", BUY, D("3.2"))]
        (cover, *_) = await pipeline.repo.fills_of("AAPL", 10)
        assert cover.covers == ()  # the maker's buy is netted, the sells are hedged
        assert await pipeline.exposures() == {"AAPL": D(0)}
        await pipeline.assert_whole()


async def test_a_spoofed_token_calling_itself_wtaapl_is_never_hedged(
    world: RaindexWorld, database_url: str
) -> None:
    market = await Market.open(world, ("AAPL",), wrapped=("AAPL",))
    spoof = await world.token("wtAAPL", 18)  # not configured: its name means nothing
    first = await market.fill(spoof.address, True, "5", "1000")
    second = await market.fill(spoof.address, False, "1", "150", via=Via.CLEAR_V4)
    real = await market.sell("AAPL", "1", "200")

    async with running_pipeline(database_url, market) as pipeline:
        new, _ = await pipeline.step()

        assert [f.fill_id for f in new] == [fill_id(real)]
        skipped = await pipeline.skipped()
        assert [(s.fill_id, s.reason) for s in skipped] == [
            (fill_id(first), "unknown_token"),
            (fill_id(second), "unknown_token"),
        ]
        assert all(spoof.address.lower() in s.detail for s in skipped)
        assert await pipeline.repo.skipped_counts() == {"unknown_token": 2}
        assert pipeline.orders() == [("AAPL", BUY, D(1))]  # the real fill only
        assert await pipeline.exposures() == {"AAPL": D(0)}
        (alert,) = await pipeline.alerts(AlertKind.EQUITY_LOG_SKIPPED)  # once per token
        assert alert.details["reason"] == "unknown_token"
        assert alert.details["subject"] == spoof.address.lower()
        await pipeline.assert_whole()


async def test_a_wrap_pair_is_recorded_as_skipped_and_never_hedged(
    world: RaindexWorld, database_url: str
) -> None:
    market = await Market.open(world, ("NVDA",), wrapped=("NVDA",))
    token, wrapper = market.tokens["NVDA"], market.wrappers["NVDA"]
    # the maker's order gives tNVDA for wtNVDA: a wrap, no stock against USDC
    wrap = await market.take_words(wrapper, token, decimal_word(D(3)), decimal_word(D(3)))
    unwrap = await market.take_words(token, wrapper, decimal_word(D(1)), decimal_word(D(1)))

    async with running_pipeline(database_url, market) as pipeline:
        new, sent = await pipeline.step()

        assert new == [] and sent == []
        skipped = await pipeline.skipped()
        assert [(s.fill_id, s.block_number, s.reason) for s in skipped] == [
            (fill_id(wrap), wrap.block_number, "not_stock_usdc"),
            (fill_id(unwrap), unwrap.block_number, "not_stock_usdc"),
        ]
        assert f"received {wrapper.lower()} (wtNVDA) for {token.lower()} (tNVDA)" in (
            skipped[0].detail
        )
        assert await pipeline.repo.skipped_counts() == {"not_stock_usdc": 2}
        assert pipeline.ingestion.figures().skipped_by_reason == {"not_stock_usdc": 2}
        assert await pipeline.exposures() == {}
        checkpoint = await pipeline.repo.checkpoint()
        assert checkpoint is not None and checkpoint.number == unwrap.block_number
        # the next real fill goes through as usual
        await market.buy("NVDA", "2", "360")
        await pipeline.step()
        assert pipeline.orders() == [("NVDA", SELL, D(2))]
        await pipeline.assert_whole()


async def test_the_specs_production_float_words_go_through_the_whole_pipeline(
    world: RaindexWorld, database_url: str
) -> None:
    market = await Market.open(world, ("AAPL", "MSFT"))
    aapl, msft, usdc = market.tokens["AAPL"], market.tokens["MSFT"], market.usdc
    # the maker sells 2 AAPL (2.0) for 160.15507752 USDC: the taker receives 2.0
    take = await market.take_words(usdc, aapl, FLOAT_TWO, FLOAT_160_15507752)
    # the same in a clear: the maker gives 2.0 MSFT and takes 160.15507752 USDC
    clear = await market.clear_words(usdc, msft, FLOAT_TWO, FLOAT_160_15507752)

    async with running_pipeline(database_url, market) as pipeline:
        new, _ = await pipeline.step()

        assert [f.fill_id for f in new] == [fill_id(take), fill_id(clear)]
        # 2.0 shares; 160.15507752 USDC floored to USDC's 6 dp: 160.155077
        assert [(f.symbol, f.side, f.shares, f.usdc) for f in new] == [
            ("AAPL", OnchainSide.SOLD, D(2), D("160.155077")),
            ("MSFT", OnchainSide.SOLD, D(2), D("160.155077")),
        ]
        stored = await pipeline.stored_fills()
        assert [(f.signed_shares, f.usdc, f.price_usd) for f in stored] == [
            (D(-2), D("160.155077"), D("80.0775385")),  # 160.155077 / 2
            (D(-2), D("160.155077"), D("80.0775385")),
        ]
        assert pipeline.orders() == [("AAPL", BUY, D(2)), ("MSFT", BUY, D(2))]
        # filled at the last onchain price; a buy's price rounded up to the 0.0001 tick
        (cover,) = await pipeline.repo.fills_of("AAPL", 10)
        assert [b.price_usd for _, b in cover.covers] == [D("80.0776")]
        await pipeline.assert_whole()


async def test_v4_and_v5_events_in_one_run(world: RaindexWorld, database_url: str) -> None:
    market = await Market.open(world, ("AAPL", "MSFT"))
    sent = [
        await market.sell("AAPL", "1.5", "300", via=Via.TAKE_V4),  # at 200
        await market.buy("AAPL", "0.5", "99.5", via=Via.CLEAR_V4, maker_is_bob=True),  # 199
        await market.buy("MSFT", "2", "800", via=Via.TAKE_V5),  # at 400
        await market.sell("MSFT", "1", "402", via=Via.CLEAR_V5),  # at 402
    ]

    async with running_pipeline(database_url, market) as pipeline:
        new, _ = await pipeline.step()

        assert [f.fill_id for f in new] == [fill_id(s) for s in sent]
        assert [(f.generation, f.symbol, f.signed_shares, f.usdc) for f in new] == [
            (Generation.V4, "AAPL", D("-1.5"), D(300)),
            (Generation.V4, "AAPL", D("0.5"), D("99.5")),
            (Generation.V5, "MSFT", D(2), D(800)),
            (Generation.V5, "MSFT", D(-1), D(402)),
        ]
        # a clear's fill is the Clear's log, the first of its two
        assert [s.log_indexes for s in sent] == [(0,), (0, 1), (0,), (0, 1)]
        assert pipeline.orders() == [("AAPL", BUY, D(1)), ("MSFT", SELL, D(1))]
        assert await pipeline.exposures() == {"AAPL": D(0), "MSFT": D(0)}
        await pipeline.assert_whole()

"""Accumulation through the whole pipeline: opposing fills that cancel out send no order, tiny
fills accumulate to one whole share at a whole-shares broker, and forty symbols at once each
get their own hedge."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.domain.equities.broker import BrokerKind
from pegkeeper.domain.equities.pnl import PnlBucket
from pegkeeper.domain.orders import OrderSide
from tests.integration.equities_pipeline.market import Market, Via, fill_id
from tests.integration.equities_pipeline.pipeline import running_pipeline

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


async def test_opposing_fills_that_cancel_out_send_no_order(
    world: RaindexWorld, database_url: str
) -> None:
    market = await Market.open(world, ("AAPL", "MSFT"))
    async with running_pipeline(database_url, market) as pipeline:
        await market.sell("AAPL", "1.5", "300")  # at 200
        await market.buy("AAPL", "1.5", "297", via=Via.CLEAR_V5)  # at 198
        await market.buy("MSFT", "0.4", "160", via=Via.TAKE_V4)  # at 400
        await market.sell("MSFT", "0.4", "160.8", via=Via.CLEAR_V4)  # at 402

        new, sent = await pipeline.step()

        assert len(new) == 4
        assert sent == [] and pipeline.orders() == []
        assert await pipeline.exposures() == {"AAPL": D(0), "MSFT": D(0)}
        assert pipeline.hedger.waiting_reasons() == {
            "AAPL": "no open exposure",
            "MSFT": "no open exposure",
        }
        # the maker sold 1.5 at 200 and bought them back at 198: +3; MSFT (402 - 400) x 0.4
        pnl = pipeline.pnl.symbols()
        assert pnl["AAPL"].realised_by_bucket_usd[PnlBucket.ONCHAIN_NETTING] == D(3)
        assert pnl["MSFT"].realised_by_bucket_usd[PnlBucket.ONCHAIN_NETTING] == D("0.8")
        assert pnl["AAPL"].position_shares == pnl["MSFT"].position_shares == 0
        await pipeline.assert_whole()


async def test_tiny_fills_accumulate_to_one_whole_share(
    world: RaindexWorld, database_url: str
) -> None:
    market = await Market.open(world, ("AAPL",))
    async with running_pipeline(
        database_url, market, broker_kind=BrokerKind.WHOLE_SHARES
    ) as pipeline:
        for n in range(1, 7):  # 0.15 at 200, six times: 0.9 shares
            await market.sell("AAPL", "0.15", "30")
            await pipeline.step()
            assert pipeline.orders() == []
            assert await pipeline.exposure("AAPL") == D("-0.15") * n
        assert "below 1 whole share" in pipeline.hedger.waiting_reasons()["AAPL"]

        last = await market.sell("AAPL", "0.15", "30")
        await pipeline.step()

        # 1.05 sold: floor to one share, 0.05 left open on the last fill
        assert pipeline.orders() == [("AAPL", BUY, D(1))]
        assert await pipeline.exposure("AAPL") == D("-0.05")
        (newest, *_) = await pipeline.repo.fills_of("AAPL", 10)
        assert newest.fill.fill_id == fill_id(last)
        assert sum(a.shares for a, _ in newest.covers) == D("0.10")
        await pipeline.step()
        assert len(pipeline.orders()) == 1
        await pipeline.assert_whole()


async def test_forty_symbols_at_once_get_one_hedge_each(
    world: RaindexWorld, database_url: str
) -> None:
    symbols = tuple(f"S{n:02d}" for n in range(40))
    market = await Market.open(world, symbols)
    # symbol n: (n + 1) / 8 shares at 100 + n USD, the maker selling the even ones
    shares = {s: D(n + 1) / 8 for n, s in enumerate(symbols)}
    prices = {s: D(100 + n) for n, s in enumerate(symbols)}
    calls = [
        market.take_v5_fill(s, n % 2 == 0, shares[s], shares[s] * prices[s])
        for n, s in enumerate(symbols)
    ]
    for start in range(0, 40, 10):  # ten takes in each transaction
        await world.multicall(*calls[start : start + 10])

    async with running_pipeline(database_url, market) as pipeline:
        new, _ = await pipeline.step()

        assert len(new) == 40
        expected = {s: (s, BUY if n % 2 == 0 else SELL, shares[s]) for n, s in enumerate(symbols)}
        assert sorted(pipeline.orders()) == sorted(expected.values())
        assert len(pipeline.orders()) == 40
        assert await pipeline.exposures() == dict.fromkeys(symbols, D(0))
        for n, symbol in enumerate(symbols[:3]):
            (cover,) = await pipeline.repo.fills_of(symbol, 10)
            assert cover.fill.price_usd == prices[symbol]
            ((allocation, broker_fill),) = cover.covers
            assert allocation.shares == shares[symbol] == D(n + 1) / 8
            assert broker_fill.price_usd == prices[symbol]
        await pipeline.assert_whole()

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from pegkeeper.domain.pricing import (
    AggregatedPrice,
    CrossExchange,
    PairRate,
    PricingModel,
    Rejection,
    RobustConfig,
    TopOfBook,
    aggregate_pair,
    aggregate_stablecoin,
    median,
)

D = Decimal
REF = PricingModel.STABLECOIN_STATS
ROBUST = PricingModel.ROBUST


def q(
    exchange: str,
    pair: str,
    bid: str | None,
    *,
    size: str | None = "1",
    stale: bool = False,
    ask: str | None = None,
) -> TopOfBook:
    base, quote = pair.split("/")
    return TopOfBook(
        exchange=exchange,
        base=base,
        quote=quote,
        bid=None if bid is None else D(bid),
        ask=None if ask is None else D(ask),
        ts_ms=1_700_000_000_000,
        bid_size=None if size is None else D(size),
        stale=stale,
    )


def close_to(value: Decimal | None, expected: Fraction) -> bool:
    assert value is not None
    return abs(Fraction(value) - expected) < Fraction(1, 10**24)


def rejections(pair: PairRate) -> dict[str, Rejection | None]:
    return {s.exchange: s.rejected for s in pair.sources}


def pair_of(result: AggregatedPrice, name: str) -> PairRate:
    return next(p for p in result.pairs if p.pair == name)


REFERENCE_QUOTES = [
    q("kraken", "USDT/USD", "0.9990"),
    q("coinbase", "USDT/USD", "1.0000"),
    q("kraken", "BTC/USD", "30000"),
    q("coinbase", "BTC/USD", "30010"),
    q("binance", "BTC/USDT", "30020"),
    q("okx", "BTC/USDT", "30040"),
]


def test_stablecoin_stats_hand_example() -> None:
    # direct = (0.9990 + 1.0000) / 2 = 1999/2000
    # bridged = mean(30000, 30010) / mean(30020, 30040) = 30005 / 30030 = 6001/6006
    result = aggregate_stablecoin("USDT", REFERENCE_QUOTES, REF)
    direct = Fraction(1999, 2000)
    bridged = Fraction(6001, 6006)
    assert result.model is REF
    assert close_to(result.direct, direct)
    assert close_to(result.bridged, bridged)
    assert close_to(result.price, (direct + bridged) / 2)
    assert result.legs_used == ("direct", "bridged")
    assert result.has_price
    # the ratio of means, not the mean of per-exchange ratios (30000/30020 + 30010/30040) / 2
    other_reading = (Fraction(30000, 30020) + Fraction(30010, 30040)) / 2
    assert not close_to(result.bridged, other_reading)
    shown = {(s.exchange, s.pair): s.bid for p in result.pairs for s in p.sources}
    assert shown[("okx", "BTC/USDT")] == D("30040")
    assert all(s.used for p in result.pairs for s in p.sources)


def test_stablecoin_stats_leaves_stale_sources_out() -> None:
    quotes = [*REFERENCE_QUOTES, q("bitstamp", "USDT/USD", "0.5", stale=True)]
    result = aggregate_stablecoin("USDT", quotes, REF)
    assert close_to(result.price, (Fraction(1999, 2000) + Fraction(6001, 6006)) / 2)
    assert rejections(pair_of(result, "USDT/USD"))["bitstamp"] is Rejection.STALE


def test_stablecoin_stats_has_no_price_without_both_legs() -> None:
    quotes = [x for x in REFERENCE_QUOTES if x.pair != "BTC/USDT"]
    result = aggregate_stablecoin("USDT", quotes, REF)
    assert result.price is None and not result.has_price
    assert result.direct == D("0.9995")
    assert result.bridged is None
    assert "BTC/USDT" in result.reason


def test_robust_median_rejects_an_outlier() -> None:
    quotes = [
        q("kraken", "USDT/USD", "0.999"),
        q("coinbase", "USDT/USD", "1.000"),
        q("bitstamp", "USDT/USD", "1.001"),
        q("tinyex", "USDT/USD", "0.900"),  # 10 % below the median (0.9995) of all four
        q("kraken", "BTC/USD", "30000"),
        q("coinbase", "BTC/USD", "30010"),
        q("bitstamp", "BTC/USD", "30020"),
        q("binance", "BTC/USDT", "30030"),
    ]
    result = aggregate_stablecoin("USDT", quotes, ROBUST, RobustConfig(max_deviation=D("0.02")))
    direct_pair = pair_of(result, "USDT/USD")
    assert rejections(direct_pair) == {
        "bitstamp": None,
        "coinbase": None,
        "kraken": None,
        "tinyex": Rejection.OUTLIER,
    }
    assert result.direct == D("1.000")  # median of the three that remain
    assert close_to(result.bridged, Fraction(30010, 30030))
    assert close_to(result.price, (1 + Fraction(30010, 30030)) / 2)


def test_robust_outlier_threshold_is_relative_to_the_median() -> None:
    quotes = [q("a", "BTC/USD", "100"), q("b", "BTC/USD", "101"), q("c", "BTC/USD", "102.5")]
    # median 101: c is 1.485 % away -> kept at 2 %, rejected at 1 %
    loose = aggregate_pair(quotes, "BTC", "USD", ROBUST, RobustConfig(max_deviation=D("0.02")))
    assert loose.value == D("101") and all(s.used for s in loose.sources)
    tight = aggregate_pair(quotes, "BTC", "USD", ROBUST, RobustConfig(max_deviation=D("0.01")))
    assert rejections(tight) == {"a": None, "b": None, "c": Rejection.OUTLIER}
    assert tight.value == D("100.5")  # median of 100 and 101


def test_robust_two_disagreeing_sources_give_no_value() -> None:
    quotes = [q("a", "BTC/USD", "100"), q("b", "BTC/USD", "110")]
    pair = aggregate_pair(quotes, "BTC", "USD", ROBUST)
    assert pair.value is None
    assert rejections(pair) == {"a": Rejection.OUTLIER, "b": Rejection.OUTLIER}


def test_robust_liquidity_weighted_mean() -> None:
    quotes = [
        q("a", "USDC/USD", "1.000", size="3"),
        q("b", "USDC/USD", "0.998", size="1"),
        q("c", "USDC/USD", "0.999", size=None),
    ]
    config = RobustConfig(cross_exchange=CrossExchange.LIQUIDITY_WEIGHTED)
    pair = aggregate_pair(quotes, "USDC", "USD", ROBUST, config)
    assert pair.value == D("0.9995")  # (3 * 1.000 + 1 * 0.998) / 4
    assert rejections(pair)["c"] is Rejection.NO_SIZE


def test_robust_uses_one_leg_when_the_other_is_missing() -> None:
    bridged_only = [q("kraken", "BTC/USD", "30000"), q("binance", "BTC/USDC", "30300")]
    result = aggregate_stablecoin("USDC", bridged_only, ROBUST)
    assert close_to(result.price, Fraction(30000, 30300))
    assert result.direct is None and result.legs_used == ("bridged",)

    direct_only = [q("kraken", "USDC/USD", "0.97"), q("binance", "BTC/USDC", "30300")]
    result = aggregate_stablecoin("USDC", direct_only, ROBUST)
    assert result.price == D("0.97") and result.legs_used == ("direct",)
    assert result.bridged is None


def test_robust_no_price_when_both_legs_are_missing() -> None:
    quotes = [
        q("kraken", "USDC/USD", "0.99", stale=True),
        q("kraken", "BTC/USD", None),
        q("binance", "BTC/USDC", "30300"),
    ]
    result = aggregate_stablecoin("USDC", quotes, ROBUST)
    assert result.price is None and not result.has_price
    assert result.reason == "missing USDC/USD, BTC/USD"
    assert rejections(pair_of(result, "USDC/USD")) == {"kraken": Rejection.STALE}
    assert rejections(pair_of(result, "BTC/USD")) == {"kraken": Rejection.NO_BID}


def test_robust_stale_source_excluded_before_the_median() -> None:
    quotes = [
        q("a", "BTC/USD", "30000"),
        q("b", "BTC/USD", "30010", stale=True),
        q("c", "BTC/USD", "30020"),
    ]
    pair = aggregate_pair(quotes, "BTC", "USD")
    assert pair.value == D("30010")  # median of 30000 and 30020, b is out
    assert rejections(pair)["b"] is Rejection.STALE
    assert [s.exchange for s in pair.sources] == ["a", "b", "c"]


def test_negative_max_deviation_is_refused() -> None:
    with pytest.raises(ValueError):
        RobustConfig(max_deviation=D("-0.01"))


def test_median_of_even_and_odd_counts() -> None:
    assert median([D(3), D(1), D(2)]) == D(2)
    assert median([D(4), D(1), D(3), D(2)]) == D("2.5")


@pytest.mark.parametrize("model", [REF, ROBUST])
def test_other_markets_are_ignored(model: PricingModel) -> None:
    quotes = [*REFERENCE_QUOTES, q("kraken", "ETH/USD", "2000"), q("kraken", "USDC/USD", "0.5")]
    result = aggregate_stablecoin("USDT", quotes, model)
    assert {s.pair for p in result.pairs for s in p.sources} == {
        "USDT/USD",
        "BTC/USD",
        "BTC/USDT",
    }

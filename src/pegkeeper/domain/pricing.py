"""Aggregated stablecoin prices from the best bids of several exchanges (specs/market-data.md).

For a stablecoin X there are two legs:
- direct  = the cross-exchange value of the X/USD best bids;
- bridged = value(BTC/USD) / value(BTC/X), X priced through BTC.

Model `stablecoin-stats` (the reference): each pair's value is the unweighted mean of the latest
best bids across exchanges ("each pair's rate across exchanges is the unweighted mean"), so the
bridged leg is mean(BTC/USD bids) / mean(BTC/X bids), a ratio of means, not a mean of
per-exchange ratios (which would need both pairs on the same exchange). price = (direct +
bridged) / 2 and both legs are required.

Model `robust` (the default): each pair's value is the median (or the bid-size-weighted mean) of
the bids that remain after dropping those further than `max_deviation` (relative) from the median
of all fresh bids; either leg alone serves when the other is missing. With two sources that
disagree by more than the allowed distance both are rejected: there is no majority to trust.

In both models a stale source, or one without a positive bid, is left out: the feeds rule says a
stale source "drops out of every aggregate". Every quote considered is reported with whether it
was used and, if not, why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

USD = "USD"
BTC = "BTC"
TWO = Decimal(2)


class PricingModel(Enum):
    STABLECOIN_STATS = "stablecoin-stats"
    ROBUST = "robust"


class CrossExchange(Enum):
    MEDIAN = "median"
    LIQUIDITY_WEIGHTED = "liquidity-weighted"


class Rejection(Enum):
    STALE = "stale"
    NO_BID = "no bid"
    OUTLIER = "outlier"
    NO_SIZE = "no bid size"  # liquidity weighting needs a size


@dataclass(frozen=True, slots=True)
class TopOfBook:
    """The latest best bid/ask of one market on one exchange; sizes in the base currency."""

    exchange: str
    base: str
    quote: str
    bid: Decimal | None
    ask: Decimal | None
    ts_ms: int
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    stale: bool = False

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"


@dataclass(frozen=True, slots=True)
class RobustConfig:
    cross_exchange: CrossExchange = CrossExchange.MEDIAN
    max_deviation: Decimal = Decimal("0.02")  # relative distance from the median

    def __post_init__(self) -> None:
        if not self.max_deviation >= 0:
            raise ValueError(f"max_deviation must be >= 0, not {self.max_deviation}")


@dataclass(frozen=True, slots=True)
class SourceRate:
    """One exchange's bid for one pair, as it entered (or did not enter) the aggregate."""

    exchange: str
    pair: str
    bid: Decimal | None
    bid_size: Decimal | None
    ts_ms: int
    rejected: Rejection | None = None

    @property
    def used(self) -> bool:
        return self.rejected is None


@dataclass(frozen=True, slots=True)
class PairRate:
    pair: str
    value: Decimal | None  # None: no usable source
    sources: tuple[SourceRate, ...]


@dataclass(frozen=True, slots=True)
class AggregatedPrice:
    symbol: str
    model: PricingModel
    price: Decimal | None  # None: no price (see `reason`)
    direct: Decimal | None
    bridged: Decimal | None
    pairs: tuple[PairRate, ...]  # X/USD, BTC/USD, BTC/X
    reason: str = ""  # why there is no price
    legs_used: tuple[str, ...] = ()  # "direct", "bridged"

    @property
    def has_price(self) -> bool:
        return self.price is not None


def mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


def median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / TWO


def _screen(quotes: Iterable[TopOfBook], pair: str) -> tuple[list[SourceRate], list[SourceRate]]:
    """(fresh sources with a positive bid, every source with its first rejection)."""
    fresh: list[SourceRate] = []
    rejected: list[SourceRate] = []
    for q in quotes:
        if q.pair != pair:
            continue
        rate = SourceRate(q.exchange, pair, q.bid, q.bid_size, q.ts_ms)
        if q.stale:
            rejected.append(_reject(rate, Rejection.STALE))
        elif q.bid is None or q.bid <= 0:
            rejected.append(_reject(rate, Rejection.NO_BID))
        else:
            fresh.append(rate)
    return fresh, rejected


def _reject(rate: SourceRate, why: Rejection) -> SourceRate:
    return SourceRate(rate.exchange, rate.pair, rate.bid, rate.bid_size, rate.ts_ms, why)


def _bid(rate: SourceRate) -> Decimal:
    assert rate.bid is not None  # guaranteed by _screen
    return rate.bid


def aggregate_pair(
    quotes: Iterable[TopOfBook],
    base: str,
    quote: str,
    model: PricingModel = PricingModel.ROBUST,
    config: RobustConfig | None = None,
) -> PairRate:
    """The cross-exchange best-bid value of base/quote (e.g. BTC/USD) under `model`."""
    pair = f"{base}/{quote}"
    fresh, rejected = _screen(quotes, pair)
    if model is PricingModel.STABLECOIN_STATS:
        mean_bid = mean([_bid(r) for r in fresh]) if fresh else None
        return PairRate(pair, mean_bid, _ordered(fresh + rejected))

    config = config or RobustConfig()
    kept = fresh
    if fresh:
        center = median([_bid(r) for r in fresh])
        kept = []
        for r in fresh:
            if abs(_bid(r) - center) > config.max_deviation * center:
                rejected.append(_reject(r, Rejection.OUTLIER))
            else:
                kept.append(r)
    if config.cross_exchange is CrossExchange.LIQUIDITY_WEIGHTED:
        sized: list[SourceRate] = []
        for r in kept:
            if r.bid_size is not None and r.bid_size > 0:
                sized.append(r)
            else:
                rejected.append(_reject(r, Rejection.NO_SIZE))
        kept = sized
    return PairRate(pair, _cross_exchange(kept, config.cross_exchange), _ordered(kept + rejected))


def _cross_exchange(kept: Sequence[SourceRate], method: CrossExchange) -> Decimal | None:
    if not kept:
        return None
    if method is CrossExchange.MEDIAN:
        return median([_bid(r) for r in kept])
    weights = [r.bid_size or Decimal(0) for r in kept]
    weighted = sum((_bid(r) * w for r, w in zip(kept, weights, strict=True)), Decimal(0))
    return weighted / sum(weights, Decimal(0))


def _ordered(rates: list[SourceRate]) -> tuple[SourceRate, ...]:
    return tuple(sorted(rates, key=lambda r: r.exchange))


def aggregate_stablecoin(
    symbol: str,
    quotes: Iterable[TopOfBook],
    model: PricingModel = PricingModel.ROBUST,
    config: RobustConfig | None = None,
) -> AggregatedPrice:
    """price(symbol) in USD from the direct and the BTC-bridged legs, with every rate behind it."""
    quotes = list(quotes)
    direct_pair = aggregate_pair(quotes, symbol, USD, model, config)
    btc_usd = aggregate_pair(quotes, BTC, USD, model, config)
    btc_x = aggregate_pair(quotes, BTC, symbol, model, config)
    pairs = (direct_pair, btc_usd, btc_x)

    direct = direct_pair.value
    bridged = None
    if btc_usd.value is not None and btc_x.value is not None:
        bridged = btc_usd.value / btc_x.value

    def result(price: Decimal | None, legs: tuple[str, ...], reason: str = "") -> AggregatedPrice:
        return AggregatedPrice(symbol, model, price, direct, bridged, pairs, reason, legs)

    if direct is not None and bridged is not None:
        return result((direct + bridged) / TWO, ("direct", "bridged"))
    reason = "missing " + ", ".join(p.pair for p in pairs if p.value is None)
    if model is PricingModel.STABLECOIN_STATS:
        return result(None, (), reason)
    if direct is not None:
        return result(direct, ("direct",))
    if bridged is not None:
        return result(bridged, ("bridged",))
    return result(None, (), reason)

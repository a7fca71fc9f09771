"""What trading costs in a backtest, modelled as on OKX: fees, the book each order meets (its
spread and depth follow the minute's range and volume), the latency between a decision and its
fill, and the fees of moving collateral.

The book model: the half spread is `base_half_spread_bps` plus `range_half_spread_share` of the
minute's high-low range (spreads widen when the price runs); each side holds `levels` levels
`level_step_bps` apart, together `depth_share` of the minute's traded notional (at least
`min_level_contracts` a level). A minute without volume in the file gets the thinnest book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from pegkeeper.sim.book import BookShape

BPS = 10_000
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class BookModel:
    base_half_spread_bps: float = 0.25
    range_half_spread_share: float = 0.02
    depth_share: float = 0.5
    levels: int = 20
    level_step_bps: float = 1.0
    min_level_contracts: int = 50
    volume_unit: Literal["base", "quote"] = "base"  # the file's volume: BTC, or USD

    def __post_init__(self) -> None:
        if self.base_half_spread_bps < 0 or self.range_half_spread_share < 0:
            raise ValueError("the half spread's parameters must be >= 0")
        if self.depth_share <= 0 or self.levels < 1 or self.level_step_bps <= 0:
            raise ValueError("depth_share and level_step_bps must be positive, levels >= 1")
        if self.min_level_contracts < 1:
            raise ValueError("min_level_contracts must be at least 1")

    def shape(
        self,
        close_usd: float,
        high_usd: float,
        low_usd: float,
        volume: float,
        contract_usd: float,
    ) -> BookShape:
        """The book of one minute; `contract_usd` is one contract's value in USD."""
        range_bps = (high_usd - low_usd) / close_usd * BPS
        half_spread_bps = self.base_half_spread_bps + self.range_half_spread_share * range_bps
        volume_usd = volume * close_usd if self.volume_unit == "base" else volume
        depth_contracts = self.depth_share * volume_usd / contract_usd / self.levels
        level_contracts = max(self.min_level_contracts, int(depth_contracts))
        return BookShape(
            half_spread_usd=_usd(close_usd * half_spread_bps / BPS, ROUND_CEILING),
            level_step_usd=max(CENT, _usd(close_usd * self.level_step_bps / BPS, ROUND_FLOOR)),
            levels=self.levels,
            level_size_contracts=Decimal(level_contracts),
        )


def _usd(amount: float, rounding: str) -> Decimal:
    return Decimal(repr(amount)).quantize(CENT, rounding=rounding)


@dataclass(frozen=True, slots=True)
class CostModel:
    taker_fee_rate: Decimal = Decimal("0.0005")  # OKX's regular tier on swaps
    maker_fee_rate: Decimal = Decimal("0.0002")
    latency_ms: int = 250  # decision to fill: the order reaches the book this much later
    transfer_fee: Decimal = Decimal(0)  # between the funding and trading accounts (free on OKX)
    withdrawal_fee_btc: Decimal = Decimal("0.0001")
    withdrawal_fee_usdt: Decimal = Decimal(1)
    deposit_minutes: float = 30.0  # an onchain deposit is credited after this
    book: BookModel = field(default_factory=BookModel)

    def __post_init__(self) -> None:
        if self.taker_fee_rate < 0 or self.latency_ms < 0 or self.deposit_minutes < 0:
            raise ValueError("taker_fee_rate, latency_ms and deposit_minutes must be >= 0")
        if self.withdrawal_fee_btc < Decimal("0.0001") or self.withdrawal_fee_usdt < 1:
            raise ValueError("withdrawal fees are at least OKX's minimum: 0.0001 BTC, 1 USDT")

    def withdrawal_fee(self, currency: str) -> Decimal:
        return self.withdrawal_fee_btc if currency == "BTC" else self.withdrawal_fee_usdt

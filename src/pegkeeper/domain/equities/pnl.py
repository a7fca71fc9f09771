"""FIFO P&L per symbol over onchain and broker trades in time order (specs/equities.md).

The rules are filled in by `fifo_step` and `replay`; the records below are what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class TradeSource(StrEnum):
    ONCHAIN = "onchain"
    BROKER = "broker"


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: str  # an onchain fill id, or a broker fill's piece id
    symbol: str
    source: TradeSource
    signed_quantity: Decimal  # bought positive
    price_usd: Decimal
    ts_ms: int
    fee_usd: Decimal = Decimal(0)  # broker fees, gas of transactions pegkeeper sent


class PnlBucket(StrEnum):
    COUNTER_TRADE = "counter_trade"  # a broker fill closing an onchain lot within the window
    ONCHAIN_NETTING = "onchain_netting"  # onchain against onchain
    DIRECTIONAL = "directional_exposure"  # the rest


@dataclass(frozen=True, slots=True)
class PnlEntry:
    """One trade's effect on its symbol's P&L, with the running totals after it."""

    trade_id: str
    symbol: str
    ts_ms: int
    realised_usd: dict[PnlBucket, Decimal]  # this trade's realised P&L per bucket
    fee_usd: Decimal
    position_after: Decimal  # signed shares of the open lots
    realised_total_usd: Decimal  # running, all buckets
    fees_total_usd: Decimal  # running

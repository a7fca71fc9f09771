"""FIFO P&L per symbol over onchain and broker trades in time order (specs/equities.md).

The rules are in `fifo` (`FifoBook`, `replay`) and `tape` (the incremental replay); the records
below are what is stored and read.
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


# Time order: onchain fills at their block's time, broker fills at theirs; at one millisecond,
# onchain first in chain order, then broker fills by piece id.
TradeKey = tuple[int, int, int, int, str]


def onchain_trade_key(ts_ms: int, block_number: int, log_index: int) -> TradeKey:
    return (ts_ms, 0, block_number, log_index, "")


def broker_trade_key(ts_ms: int, piece_id: str) -> TradeKey:
    return (ts_ms, 1, 0, 0, piece_id)


@dataclass(frozen=True, slots=True)
class TradeCursor:
    """How far trades were read: the last onchain fill and broker fill recorded (their place in
    the store's order of recording, 0 before any) and how many onchain fills were reverted.
    Recorded fills never change except by a revert, so what is new is what lies past the
    cursor, unless the reverted count moved: then everything is read again."""

    onchain: int = 0
    broker: int = 0
    reverted: int = 0


@dataclass(frozen=True, slots=True)
class TradesRead:
    """The live trades recorded past a cursor, each with its time-order key, in no order."""

    keyed: list[tuple[TradeKey, Trade]]
    cursor: TradeCursor


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

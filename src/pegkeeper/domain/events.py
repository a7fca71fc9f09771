"""Messages on the bus. Prices move through the bus; money state lives in the store."""

from __future__ import annotations

import msgspec


class LiabilityChanged(msgspec.Struct, frozen=True, tag="liability"):
    seq: int
    event_id: str
    delta_cents: int
    balance_after_cents: int
    correlation_id: str
    ts_ms: int


class HedgeDecided(msgspec.Struct, frozen=True, tag="decision"):
    decision_id: str
    correlation_id: str
    action: str
    size_contracts: str
    rule: str
    ts_ms: int


class OrderUpdated(msgspec.Struct, frozen=True, tag="order"):
    client_order_id: str
    correlation_id: str
    state: str
    ts_ms: int


class PositionChanged(msgspec.Struct, frozen=True, tag="position"):
    instrument_id: str
    size_contracts: str
    ts_ms: int


class BboUpdated(msgspec.Struct, frozen=True, tag="bbo"):
    """Best bid and offer of one market on one exchange; prices and sizes as decimal strings."""

    exchange: str
    base: str
    quote: str
    bid: str | None
    ask: str | None
    ts_ms: int  # the exchange's time
    receive_ms: int  # when pegkeeper received it
    bid_size: str | None = None
    ask_size: str | None = None


class PegUpdated(msgspec.Struct, frozen=True, tag="peg"):
    symbol: str
    ts_ms: int
    price: float
    score: float


class OperatorActed(msgspec.Struct, frozen=True, tag="operator"):
    """An operator action was recorded; `hedging_paused` is the hedger's switch after it."""

    action_id: str
    operator: str
    action: str
    target: str
    result: str
    detail: str
    hedging_paused: bool
    correlation_id: str
    ts_ms: int


class LeverageMeasured(msgspec.Struct, frozen=True, tag="leverage"):
    """The funding manager's reading of one collateral account, decimals as strings."""

    venue: str
    currency: str
    mark_price_usd: str
    leverage: str | None
    liquidation_price_usd: str | None
    distance_pct: str | None
    ts_ms: int


class AllocationChanged(msgspec.Struct, frozen=True, tag="allocation"):
    """The carry allocation stored new weights (`weights[i]` of `legs[i]`, decimal strings)
    at `version`: every hedger reads them from the store and looks at its leg again."""

    version: int
    legs: list[str]
    weights: list[str]
    rule: str
    decision_id: str
    ts_ms: int


Event = (
    LiabilityChanged
    | HedgeDecided
    | OrderUpdated
    | PositionChanged
    | BboUpdated
    | PegUpdated
    | OperatorActed
    | LeverageMeasured
    | AllocationChanged
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(payload: bytes) -> Event:
    event: Event = _decoder.decode(payload)
    return event


TOPIC_LIABILITY = "liability"
TOPIC_DECISION = "hedge.decision"
TOPIC_ORDER = "hedge.order"
TOPIC_POSITION = "venue.position"
TOPIC_PEG = "pegstats"
TOPIC_OPERATOR = "operator"
TOPIC_LEVERAGE = "funding.leverage"
TOPIC_ALLOCATION = "hedge.allocation"


def bbo_topic(exchange: str, base: str, quote: str) -> str:
    return f"bbo.{exchange}.{base}-{quote}"

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


Event = LiabilityChanged | HedgeDecided | OrderUpdated | PositionChanged

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

"""Order books on the bus, and the snapshot a quote engine walks.

Best bid/offer updates go out as `events.BboUpdated` on `bbo.<source>.<instId>`, the topic the
peg monitor reads; the depth of a book goes out as `OrderBookPublished` on
`book.<source>.<instId>`. Prices and sizes travel as the exchange's own decimal strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import msgspec

Level = tuple[str, str]
DecimalLevel = tuple[Decimal, Decimal]


class OrderBookPublished(msgspec.Struct, frozen=True, tag="book"):
    """The top levels of a checked book, best first, as (price, size) strings."""

    source: str
    inst_id: str
    ts_ms: int  # the exchange's time of the last merged update
    receive_ms: int  # when pegkeeper received that update
    best_bid_price: str | None
    best_bid_size: str | None
    best_ask_price: str | None
    best_ask_size: str | None
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


_encoder = msgspec.json.Encoder()
_book_decoder = msgspec.json.Decoder(OrderBookPublished)


def encode_book(message: OrderBookPublished) -> bytes:
    return _encoder.encode(message)


def decode_book(payload: bytes) -> OrderBookPublished:
    message: OrderBookPublished = _book_decoder.decode(payload)
    return message


def book_topic(source: str, inst_id: str) -> str:
    return f"book.{source}.{inst_id}"


def split_inst_id(inst_id: str) -> tuple[str, str]:
    """`BTC-USDT` -> (BTC, USDT); `BTC-USD-SWAP` -> (BTC, USD-SWAP): a derivative keeps its
    suffix so that it never passes for the spot market of the same pair."""
    base, _, quote = inst_id.partition("-")
    return base, quote


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A checked book at one moment, best first on both sides, as Decimal."""

    source: str
    inst_id: str
    ts_ms: int
    receive_ms: int
    bids: tuple[DecimalLevel, ...]
    asks: tuple[DecimalLevel, ...]

    @property
    def best_bid(self) -> DecimalLevel | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> DecimalLevel | None:
        return self.asks[0] if self.asks else None

    @classmethod
    def from_levels(
        cls,
        source: str,
        inst_id: str,
        ts_ms: int,
        receive_ms: int,
        bids: tuple[Level, ...],
        asks: tuple[Level, ...],
    ) -> BookSnapshot:
        return cls(source, inst_id, ts_ms, receive_ms, _decimals(bids), _decimals(asks))

    @classmethod
    def from_message(cls, message: OrderBookPublished) -> BookSnapshot:
        return cls.from_levels(
            message.source,
            message.inst_id,
            message.ts_ms,
            message.receive_ms,
            message.bids,
            message.asks,
        )


def _decimals(levels: tuple[Level, ...]) -> tuple[DecimalLevel, ...]:
    return tuple((Decimal(px), Decimal(sz)) for px, sz in levels)

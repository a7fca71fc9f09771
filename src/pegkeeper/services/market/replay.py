"""Replaying recorded book traffic: the same book code the live feed runs, fed from a file."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.orderbook import BooksTally
from pegkeeper.ports import BookDecoder


@dataclass(frozen=True, slots=True)
class BookTop:
    inst_id: str
    best_bid: Decimal | None
    best_ask: Decimal | None
    valid: bool


@dataclass(frozen=True, slots=True)
class ReplayReport:
    tally: BooksTally
    tops: list[BookTop]
    last_inst_id: str | None
    seconds: float

    @property
    def messages_per_second(self) -> float:
        return self.tally.messages / self.seconds if self.seconds > 0 else 0.0

    def top(self, inst_id: str | None = None) -> BookTop | None:
        wanted = inst_id or self.last_inst_id
        return next((t for t in self.tops if t.inst_id == wanted), None)


def replay_books(raw_messages: Iterable[bytes], decoder: BookDecoder) -> ReplayReport:
    started = time.perf_counter()
    for raw in raw_messages:
        decoder.decode(raw)
    seconds = time.perf_counter() - started
    tops = [
        BookTop(inst_id, book.best_bid_price, book.best_ask_price, book.valid)
        for inst_id, book in decoder.books.items()
    ]
    return ReplayReport(decoder.tally, tops, decoder.last_inst_id, seconds)

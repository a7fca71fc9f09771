"""A price server's books from the bus: the newest of each, from what is already on the bus at
start, decoded when asked."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.domain.market_events import OrderBookPublished, book_topic, encode_book
from pegkeeper.services.market.bus_books import BusBooks
from tests.waiting import until

INST = "BTC-USD-SWAP"


def _book(bid: str, ask: str, ts_ms: int) -> bytes:
    return encode_book(
        OrderBookPublished(
            "okx", INST, ts_ms, ts_ms + 3, bid, "10", ask, "12", ((bid, "10"),), ((ask, "12"),)
        )
    )


async def test_the_newest_book_on_the_bus_is_the_one_quoted() -> None:
    bus = MemoryBus()
    await bus.publish(book_topic("okx", INST), _book("41000.5", "41001", 1_000))
    books = BusBooks(bus, [INST])
    assert books.latest(INST) is None
    assert books.health() == {INST: "no book on the bus yet (market-data?)"}
    task = asyncio.create_task(books.run())
    # the book published before it started is taken from the bus's latest value
    await until(lambda: books.latest(INST) is not None, "the book already on the bus")
    first = books.latest(INST)
    assert first is not None and first.best_bid == (Decimal("41000.5"), Decimal(10))
    for i in range(1, 4):
        await bus.publish(book_topic("okx", INST), _book(f"{41000 + i}", f"{41002 + i}", 1_000 + i))
    await bus.publish(book_topic("okx", "ETH-USD-SWAP"), _book("2000", "2001", 5))
    await until(lambda: books.received == 5, "every message taken")
    newest = books.latest(INST)
    assert newest is not None and newest.ts_ms == 1_003
    assert newest.best_ask == (Decimal(41005), Decimal(12))
    assert books.health() == {INST: "ok"}
    task.cancel()

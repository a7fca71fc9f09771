"""The OKX simulator's `books` channel read by the live books feed as it reads OKX: every push a
snapshot whose checksum holds, the book on the bus the simulator's own."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.feeds.okx_books import OkxBooks
from pegkeeper.adapters.feeds.okx_ws import OkxPublicWebSocket, OkxWebSocketSettings
from pegkeeper.domain.market_events import decode_book
from pegkeeper.ports import Subscription
from pegkeeper.services.market.order_books import OkxBookService, OkxBookSettings
from tests.okx_sim import running_sim
from tests.waiting import until

INST = "BTC-USD-SWAP"


async def test_the_simulators_books_pass_the_feeds_checksums() -> None:
    async with running_sim(Decimal("7938.39")) as sim:
        clock = RealClock()
        url = sim.ws_url + "/public"
        feed = OkxPublicWebSocket(clock, OkxWebSocketSettings(url=url, inst_ids=(INST,)))
        bus = MemoryBus()
        books = bus.subscribe("book.okx.*")
        service = OkxBookService(
            feed,
            OkxBooks(),
            bus,
            clock,
            OkxBookSettings(inst_ids=(INST,), publish_interval_ms=0, max_clock_skew_ms=600_000),
        )
        runner = asyncio.create_task(service.run())
        try:
            await until(lambda: service.latest(INST) is not None, "a checked book")
            sim.ticking = False  # the book stands still: the REST answer is the same book
            await asyncio.sleep(0.3)
            _, payload = await anext(aiter(books))
            async with aiohttp.ClientSession() as session:
                answer = await session.get(
                    f"{sim.rest_url}/api/v5/market/books", params={"instId": INST, "sz": "5"}
                )
                rest = (await answer.json())["data"][0]
            book = decode_book(await _newest(books, payload))
            assert book.inst_id == INST
            assert list(book.bids[:5]) == [(px, sz) for px, sz, *_ in rest["bids"]]
            assert list(book.asks[:5]) == [(px, sz) for px, sz, *_ in rest["asks"]]
            assert service.health() == {INST: "ok"}
        finally:
            await feed.close()
            await asyncio.wait_for(runner, 10)


async def _newest(books: Subscription, payload: bytes) -> bytes:
    """The newest book the subscription holds (the first one read, if no other came)."""
    while True:
        try:
            _, payload = await asyncio.wait_for(anext(aiter(books)), 0.5)
        except TimeoutError:
            return payload

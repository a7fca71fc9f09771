"""The OKX `books` feed over real local sockets: the WebSocket client, the book service and the
bus, against a server that replays the recorded stablesats messages and misbehaves on demand.

Book times are driven by a ManualClock that starts at the snapshot's exchange time, so the
throttle and the watchdog are exact; socket timers (keepalive, backoff) run in real time.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import structlog
import structlog.testing

from pegkeeper.adapters.bus.memory import MemoryBus, MemorySubscription
from pegkeeper.adapters.clock import ManualClock, RealClock
from pegkeeper.adapters.feeds.okx_books import OkxBooks
from pegkeeper.adapters.feeds.okx_ws import OkxPublicWebSocket, OkxWebSocketSettings
from pegkeeper.domain.events import BboUpdated, decode_event
from pegkeeper.domain.market_events import OrderBookPublished, decode_book
from pegkeeper.ports import Clock
from pegkeeper.services.market.order_books import OkxBookService, OkxBookSettings
from tests.okx_ws_server import OkxWsServer, corrupted, stablesats_messages

INST = "BTC-USD-SWAP"
MESSAGES = stablesats_messages()
SNAPSHOT_TS_MS = int(MESSAGES[0]["data"][0]["ts"])
DEPTH = 50
WAIT_SECONDS = 3.0

Levels = list[tuple[str, str]]


def naive_book(messages: list[dict[str, Any]]) -> tuple[Levels, Levels]:
    """Both sides best first, as received strings, from plain dicts: no checksum, no bisect."""
    sides: dict[str, dict[Decimal, tuple[str, str]]] = {"bids": {}, "asks": {}}
    for message in messages:
        data = message["data"][0]
        if message["action"] == "snapshot":
            sides = {"bids": {}, "asks": {}}
        for name, side in sides.items():
            for px, sz, *_ in data[name]:
                if Decimal(sz) == 0:
                    side.pop(Decimal(px), None)
                else:
                    side[Decimal(px)] = (px, sz)
    bids = [sides["bids"][k] for k in sorted(sides["bids"], reverse=True)]
    asks = [sides["asks"][k] for k in sorted(sides["asks"])]
    return bids, asks


def assert_book_is(published: OrderBookPublished, messages: list[dict[str, Any]]) -> None:
    bids, asks = naive_book(messages)
    assert [tuple(level) for level in published.bids] == bids[:DEPTH]
    assert [tuple(level) for level in published.asks] == asks[:DEPTH]
    assert (published.best_bid_price, published.best_bid_size) == bids[0]
    assert (published.best_ask_price, published.best_ask_size) == asks[0]
    assert published.ts_ms == int(messages[-1]["data"][0]["ts"])


async def until(predicate: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while loop.time() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


async def settle() -> None:
    """Time for anything that would wrongly happen to happen."""
    await asyncio.sleep(0.05)


@dataclass
class Harness:
    server: OkxWsServer
    feed: OkxPublicWebSocket
    service: OkxBookService
    books: list[tuple[str, OrderBookPublished]] = field(default_factory=list)
    bbos: list[tuple[str, BboUpdated]] = field(default_factory=list)

    async def handled(self, count: int) -> None:
        await until(lambda: self.service.messages >= count, f"{count} messages handled")

    async def published(self, count: int) -> None:
        await until(lambda: len(self.books) >= count, f"{count} books published")
        await until(lambda: len(self.bbos) >= count, f"{count} bbos published")


async def _collect_books(subscription: MemorySubscription, harness: Harness) -> None:
    async for topic, payload in subscription:
        harness.books.append((topic, decode_book(payload)))


async def _collect_bbos(subscription: MemorySubscription, harness: Harness) -> None:
    async for topic, payload in subscription:
        event = decode_event(payload)
        assert isinstance(event, BboUpdated)
        harness.bbos.append((topic, event))


def feed_settings(url: str, **overrides: Any) -> OkxWebSocketSettings:
    values: dict[str, Any] = {"backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.5}
    values.update(overrides)
    return OkxWebSocketSettings(url=url, inst_ids=(INST,), **values)


@asynccontextmanager
async def running(
    server: OkxWsServer,
    clock: Clock,
    book_settings: OkxBookSettings | None = None,
    **feed_overrides: Any,
) -> AsyncIterator[Harness]:
    feed = OkxPublicWebSocket(
        clock, feed_settings(server.url, **feed_overrides), rng=random.Random(7)
    )
    bus = MemoryBus()
    service = OkxBookService(
        feed, OkxBooks(), bus, clock, book_settings or OkxBookSettings(inst_ids=(INST,))
    )
    harness = Harness(server, feed, service)
    book_subscription = bus.subscribe("book.okx.*")
    bbo_subscription = bus.subscribe("bbo.okx.*")
    tasks = [
        asyncio.create_task(_collect_books(book_subscription, harness)),
        asyncio.create_task(_collect_bbos(bbo_subscription, harness)),
    ]
    runner = asyncio.create_task(service.run())
    try:
        yield harness
    finally:
        await feed.close()
        await asyncio.wait_for(runner, WAIT_SECONDS)  # close() ends the feed and the service
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await book_subscription.close()
        await bbo_subscription.close()


@pytest.fixture
async def server() -> AsyncIterator[OkxWsServer]:
    peer = OkxWsServer(stablesats_messages())
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


def manual_clock() -> ManualClock:
    return ManualClock(start_ms=SNAPSHOT_TS_MS)


async def test_the_merged_book_is_published_with_the_right_top(server: OkxWsServer) -> None:
    clock = manual_clock()
    settings = OkxBookSettings(inst_ids=(INST,), publish_interval_ms=1000)
    async with running(server, clock, settings) as harness:
        assert harness.service.health() == {INST: "no book yet"}
        await harness.handled(1 + 4)  # the subscribe ack and the four book messages
        await harness.published(1)
        clock.advance(1.0)
        await harness.published(2)
        service = harness.service

        assert [topic for topic, _ in harness.books] == [f"book.okx.{INST}"] * 2
        assert [topic for topic, _ in harness.bbos] == [f"bbo.okx.{INST}"] * 2
        assert_book_is(harness.books[0][1], MESSAGES[:1])
        assert_book_is(harness.books[1][1], MESSAGES)
        bids, asks = naive_book(MESSAGES)
        bbo = harness.bbos[1][1]
        assert (bbo.exchange, bbo.base, bbo.quote) == ("okx", "BTC", "USD-SWAP")
        assert (bbo.bid, bbo.bid_size, bbo.ask, bbo.ask_size) == (*bids[0], *asks[0])
        assert bbo.receive_ms == SNAPSHOT_TS_MS

        latest = service.latest(INST)
        assert latest is not None
        assert latest.best_bid == (Decimal(bids[0][0]), Decimal(bids[0][1]))
        assert latest.best_ask == (Decimal(asks[0][0]), Decimal(asks[0][1]))
        assert latest.bids[DEPTH - 1] == tuple(Decimal(x) for x in bids[DEPTH - 1])
        assert service.health() == {INST: "ok"}
        assert (service.messages, service.published, service.checksum_failed) == (5, 2, 0)
        assert (service.gaps, service.resubscribes, service.malformed, service.skewed) == (
            0,
            0,
            0,
            0,
        )
        await service.handle(clock.now_ms(), b"{not json")
        assert (service.malformed, service.published) == (1, 2)


async def test_the_throttle_publishes_at_most_once_per_interval(server: OkxWsServer) -> None:
    clock = manual_clock()
    settings = OkxBookSettings(inst_ids=(INST,), publish_interval_ms=1000)
    async with running(server, clock, settings) as harness:
        await harness.handled(1 + 4)
        await settle()
        assert len(harness.books) == 1  # the snapshot at once; updates 1-3 held back

        clock.advance(0.5)
        await settle()
        assert len(harness.books) == 1

        clock.advance(0.5)
        await harness.published(2)  # the interval is over: the latest state follows
        clock.advance(2.0)
        await settle()
        assert len(harness.books) == 2  # nothing new, nothing sent
        assert harness.service.published == 2


async def test_a_corrupted_update_is_never_published_and_the_book_recovers(
    server: OkxWsServer,
) -> None:
    server.corrupt_rounds = 1
    clock = manual_clock()
    async with running(server, clock) as harness:
        # round 1: ack, snapshot, corrupted update 1, updates 2-3; then acks and round 2
        await until(lambda: server.rounds == 2, "a second subscription round")
        await harness.handled(1 + 4 + 2 + 4)
        clock.advance(0.5)
        await harness.published(2)
        await settle()
        service = harness.service

        assert service.checksum_failed == 1
        assert service.gaps == 0  # updates 2-3 of the lost book are not counted again
        assert service.resubscribes == 1
        assert dict(service.resubscribes_by_cause) == {"checksum_mismatch": 1}
        assert [len(server.ops("subscribe")), len(server.ops("unsubscribe"))] == [2, 1]
        assert server.ops("unsubscribe")[0].inst_ids == [INST]
        assert len(harness.books) == 2
        assert_book_is(harness.books[0][1], MESSAGES[:1])
        assert_book_is(harness.books[1][1], MESSAGES)
        bad_bids = corrupted(MESSAGES[1])["data"][0]["bids"]
        bad_level = next((px, sz) for px, sz, *_ in bad_bids if sz != "0")
        for _, book in harness.books:
            assert bad_level not in [tuple(level) for level in book.bids]
        assert service.health() == {INST: "ok"}


async def test_a_dropped_connection_reconnects_and_recovers(server: OkxWsServer) -> None:
    server.drop_after = 2
    clock = manual_clock()
    async with running(server, clock) as harness:
        await until(lambda: server.rounds == 2, "a subscription on a new connection")
        await harness.handled(1 + 2 + 1 + 4)
        clock.advance(0.5)
        await harness.published(2)
        feed = harness.feed

        assert (server.connections, feed.connects, feed.reconnects) == (2, 2, 1)
        assert len(server.ops("subscribe")) == 2
        assert (harness.service.checksum_failed, harness.service.gaps) == (0, 0)
        assert_book_is(harness.books[-1][1], MESSAGES)


async def test_a_silent_feed_is_resubscribed_then_marked_stale(server: OkxWsServer) -> None:
    server.silent_after = 4
    clock = manual_clock()
    settings = OkxBookSettings(
        inst_ids=(INST,), resubscribe_after_seconds=0.3, stale_after_seconds=0.8
    )
    async with running(server, clock, settings) as harness:
        service = harness.service
        await harness.handled(1 + 4)
        await harness.published(1)

        clock.advance(0.2)
        await settle()
        assert service.resubscribes == 0

        clock.advance(0.2)  # 0.4 s without a valid update
        await until(lambda: len(server.ops("subscribe")) == 2, "a resubscription")
        assert dict(service.resubscribes_by_cause) == {"silent": 1}
        assert len(server.ops("unsubscribe")) == 1
        assert not service.is_stale(INST)

        clock.advance(0.5)  # 0.9 s
        await until(lambda: service.is_stale(INST), "the book going stale")
        assert service.health() == {INST: "stale: no valid book for 0.9 s"}
        assert service.latest(INST) is None
        assert service.resubscribes == 1  # the backoff (1 s) holds the next one

        clock.advance(0.6)  # 1.5 s: one backoff after the first resubscription
        await until(lambda: service.resubscribes == 2, "a second resubscription")
        clock.advance(0.5)  # 2.0 s: the next one waits 2 s more
        await settle()
        assert service.resubscribes == 2
        assert len(server.ops("subscribe")) == 3
        assert len(harness.books) == 1  # nothing published while silent or stale

        server.silent_after = None
        clock.advance(1.5)  # 3.5 s: the third resubscription gets a fresh snapshot
        await harness.published(2)
        await until(lambda: not service.is_stale(INST), "the book fresh again")
        assert service.health() == {INST: "ok"}
        assert service.resubscribes == 3
        assert_book_is(harness.books[1][1], MESSAGES[:1])


async def test_a_subscribe_error_is_retried_with_backoff_and_counted(
    server: OkxWsServer,
) -> None:
    server.error_subscribes = 3
    base_seconds = 0.1
    with structlog.testing.capture_logs() as logs:
        async with running(
            server, manual_clock(), backoff_base_seconds=base_seconds, backoff_cap_seconds=1.0
        ) as harness:
            await harness.published(1)
        feed = harness.feed

        subscribes = server.ops("subscribe")
        assert len(subscribes) == 4
        assert feed.subscribe_errors == 3
        assert (feed.connects, feed.reconnects) == (1, 0)  # retried on the same connection
        gaps = [b.at_seconds - a.at_seconds for a, b in itertools.pairwise(subscribes)]
        for attempt, gap_seconds in enumerate(gaps):
            # equal jitter: at least half of base * 2**attempt
            assert gap_seconds >= base_seconds * 2**attempt / 2
        assert_book_is(harness.books[0][1], MESSAGES[:1])
        warnings = [entry for entry in logs if entry["event"] == "okx subscribe error"]
        assert [entry["cause"] for entry in warnings] == ["60012: Invalid request"]


async def test_a_source_with_a_skewed_clock_is_flagged_and_not_published(
    server: OkxWsServer,
) -> None:
    clock = RealClock()  # years after the recorded exchange times
    async with running(server, clock) as harness:
        await harness.handled(1 + 4)
        await settle()
        service = harness.service

        assert service.skewed == 4
        assert service.published == 0 and harness.books == [] and harness.bbos == []
        assert service.health()[INST].startswith("clock skew: exchange time -")
        assert service.latest(INST) is None
        assert service.checksum_failed == 0


async def test_keepalive_pings_and_a_missing_pong_reconnects(server: OkxWsServer) -> None:
    feed = OkxPublicWebSocket(
        RealClock(),
        feed_settings(server.url, ping_after_seconds=0.15, pong_timeout_seconds=0.3),
        rng=random.Random(7),
    )
    frames: list[bytes] = []

    async def consume() -> None:
        async for _, raw in feed.messages():
            frames.append(raw)

    consumer = asyncio.create_task(consume())
    try:
        await until(lambda: feed.pongs >= 2, "two pongs")
        assert server.pings >= 2
        assert b"pong" not in frames
        assert len(frames) == 1 + 4
        assert feed.reconnects == 0

        server.silent_after = server.sent  # pings go unanswered from now on
        await until(lambda: server.connections == 2, "a reconnection")
        assert feed.reconnects == 1
    finally:
        await feed.close()
        await asyncio.wait_for(consumer, WAIT_SECONDS)

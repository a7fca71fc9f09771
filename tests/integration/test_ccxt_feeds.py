"""Quotes from five exchanges through real ccxt.pro clients and real local sockets: each server
speaks its exchange's own protocol (tests/exchange_ws_servers.py) and misbehaves on demand, and
the quote service turns what arrives into `BboUpdated` messages on an in-memory bus.

Everything runs on real time (ccxt's own timers do), with watchdog settings scaled down.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import structlog.testing

from pegkeeper.adapters.bus.memory import MemoryBus, MemorySubscription
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.feeds.ccxt_ws import (
    CcxtFeedSettings,
    CcxtTickerFeed,
    market_of,
    offline_markets,
)
from pegkeeper.domain.events import BboUpdated, bbo_topic, decode_event
from pegkeeper.services.market.bbo_feeds import BboFeedService, BboFeedSettings
from tests.exchange_ws_servers import SERVERS, ExchangeServer, Top

EXCHANGES = sorted(SERVERS)
WAIT_SECONDS = 5.0
FAST = BboFeedSettings(
    resubscribe_after_seconds=0.3,
    stale_after_seconds=0.8,
    reconnect_backoff_base_seconds=0.2,
    reconnect_backoff_cap_seconds=1.0,
    restart_backoff_base_seconds=0.05,
    restart_backoff_cap_seconds=0.2,
    tick_seconds=0.05,
)
QUIET = BboFeedSettings(resubscribe_after_seconds=30.0, stale_after_seconds=60.0)
# each server sends one round per subscription: healthy sources go quiet too and reconnect
WATCHFUL = BboFeedSettings(
    resubscribe_after_seconds=0.4,
    stale_after_seconds=10.0,
    reconnect_backoff_base_seconds=0.2,
    reconnect_backoff_cap_seconds=0.4,
    tick_seconds=0.05,
)


async def until(predicate: Callable[[], bool], what: str, seconds: float = WAIT_SECONDS) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


def top_of(bbo: BboUpdated) -> tuple[Decimal | None, ...]:
    values = (bbo.bid, bbo.bid_size, bbo.ask, bbo.ask_size)
    return tuple(None if value is None else Decimal(value) for value in values)


def decimals(top: Top) -> tuple[Decimal | None, ...]:
    return tuple(Decimal(value) for value in top)


def topic_of(server: ExchangeServer) -> str:
    return bbo_topic(server.exchange, *market_of(server.symbol))


def source_of(server: ExchangeServer) -> str:
    base, quote = market_of(server.symbol)
    return f"{server.exchange}.{base}-{quote}"


def feed_for(server: ExchangeServer) -> CcxtTickerFeed:
    return CcxtTickerFeed(
        server.exchange,
        [server.symbol],
        RealClock(),
        ws_url_override=server.ws_url,
        rest_url_override=server.rest_url,
        markets=offline_markets(server.exchange, [server.symbol]),
        settings=CcxtFeedSettings(backoff_base_seconds=0.05, backoff_cap_seconds=0.2),
        rng=random.Random(7),
    )


@dataclass
class Harness:
    service: BboFeedService
    feeds: dict[str, CcxtTickerFeed]
    bbos: list[tuple[str, BboUpdated]] = field(default_factory=list)

    def on(self, server: ExchangeServer) -> list[BboUpdated]:
        return [bbo for topic, bbo in self.bbos if topic == topic_of(server)]

    async def quote_with(
        self, server: ExchangeServer, top: Top, seconds: float = WAIT_SECONDS
    ) -> BboUpdated:
        wanted = decimals(top)
        await until(
            lambda: any(top_of(bbo) == wanted for bbo in self.on(server)),
            f"{server.exchange} quoting {top}",
            seconds,
        )
        return next(bbo for bbo in self.on(server) if top_of(bbo) == wanted)


async def _collect(subscription: MemorySubscription, harness: Harness) -> None:
    async for topic, payload in subscription:
        event = decode_event(payload)
        assert isinstance(event, BboUpdated)
        harness.bbos.append((topic, event))


@asynccontextmanager
async def serving(*names: str) -> AsyncIterator[dict[str, ExchangeServer]]:
    servers = {name: await SERVERS[name]().start() for name in names}
    try:
        yield servers
    finally:
        for server in servers.values():
            await server.stop()


@asynccontextmanager
async def running(
    servers: dict[str, ExchangeServer], settings: BboFeedSettings
) -> AsyncIterator[Harness]:
    feeds = {name: feed_for(server) for name, server in servers.items()}
    bus = MemoryBus()
    service = BboFeedService(list(feeds.values()), bus, RealClock(), settings, rng=random.Random(7))
    harness = Harness(service, feeds)
    subscription = bus.subscribe("bbo.*")
    collector = asyncio.create_task(_collect(subscription, harness))
    runner = asyncio.create_task(service.run())
    try:
        yield harness
    finally:
        await service.close()
        await asyncio.wait_for(runner, WAIT_SECONDS)  # closed feeds end the service
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        await subscription.close()


@pytest.mark.parametrize("name", EXCHANGES)
async def test_a_quote_from_each_exchange_reaches_the_bus(name: str) -> None:
    async with serving(name) as servers, running(servers, QUIET) as harness:
        server = servers[name]
        bbo = await harness.quote_with(server, server.expected_top(0))
        service, feed = harness.service, harness.feeds[name]

        base, quote = market_of(server.symbol)
        assert (bbo.exchange, bbo.base, bbo.quote) == (name, base, quote)
        now_ms = RealClock().now_ms()
        assert now_ms - 2_000 <= bbo.receive_ms <= now_ms
        assert abs(bbo.ts_ms - bbo.receive_ms) <= 2_000  # sent times are stamped at send
        if name in ("binance", "kraken"):  # channels ccxt reads no exchange time from
            assert bbo.ts_ms == bbo.receive_ms
        assert service.health() == {source_of(server): "ok"}
        assert (service.skewed, service.stale, service.reconnects) == (0, 0, 0)
        assert service.published == service.messages >= 1
        assert (feed.errors, server.connections) == (0, 1)


@pytest.mark.parametrize("name", EXCHANGES)
async def test_a_dropped_connection_reconnects_and_fresh_quotes_follow(name: str) -> None:
    async with serving(name) as servers, running(servers, QUIET) as harness:
        server = servers[name]
        await harness.quote_with(server, server.expected_top(0))
        published = harness.service.published

        server.drop()
        fresh = await harness.quote_with(server, server.expected_top(1))
        feed = harness.feeds[name]

        assert server.expected_top(1) != server.expected_top(0)
        assert (server.connections, server.subscribes) == (2, 2)
        assert harness.service.published > published
        assert fresh.receive_ms >= harness.on(server)[0].receive_ms
        assert feed.errors >= 1  # the lost socket, counted and retried
        assert set(feed.errors_by_cause) <= {"NetworkError", "RequestTimeout"}
        assert harness.service.health() == {source_of(server): "ok"}


async def test_a_silent_stall_is_reconnected_then_marked_stale_until_quotes_return() -> None:
    async with serving("kraken") as servers, running(servers, FAST) as harness:
        server, service = servers["kraken"], harness.service
        await harness.quote_with(server, server.expected_top(0))

        server.silent = True  # the socket stays open, nothing more arrives
        await until(lambda: server.connections == 2, "a reconnection after 0.3 s of silence")
        assert dict(service.reconnects_by_cause) == {"silent": 1}
        assert harness.feeds["kraken"].errors == 0  # a reconnection asked for is no failure
        assert not service.is_stale("kraken", "BTC", "USD")
        await until(lambda: service.stale == 1, "the source going stale")
        assert service.is_stale("kraken", "BTC", "USD")
        assert service.health()[source_of(server)].startswith("stale: no quote for 0.")
        await asyncio.sleep(0.5)
        assert server.connections <= 4  # reconnections back off: 0.2 s, 0.4 s, 0.8 s

        server.silent = False
        await harness.quote_with(server, server.expected_top(1))  # nothing served while silent
        await until(lambda: service.health() == {source_of(server): "ok"}, "the source fresh")
        assert service.stale == 1 and not service.is_stale("kraken", "BTC", "USD")


async def test_a_refusing_and_an_erroring_exchange_do_not_stop_the_others() -> None:
    with structlog.testing.capture_logs() as logs:
        async with serving(*EXCHANGES) as servers:
            servers["binance"].refuse = True  # HTTP 503 on every handshake
            servers["okx"].error_subscribes = True  # an error event for every subscription
            async with running(servers, WATCHFUL) as harness:
                for name in ("bitstamp", "coinbase", "kraken"):
                    await harness.quote_with(servers[name], servers[name].expected_top(0))
                await asyncio.sleep(0.6)
                feeds, service = harness.feeds, harness.service

                assert harness.on(servers["binance"]) == harness.on(servers["okx"]) == []
                assert 2 <= servers["binance"].refused <= 8  # retried, never in a tight loop
                assert 2 <= servers["okx"].subscribes <= 6  # after silence, with backoff
                assert set(feeds["binance"].errors_by_cause) == {"NetworkError"}
                assert set(feeds["okx"].errors_by_cause) == {"BadRequest"}
                health = service.health()
                for name in ("bitstamp", "coinbase", "kraken"):
                    assert health[source_of(servers[name])] == "ok"
                    assert feeds[name].errors == 0

                servers["binance"].refuse = False
                servers["okx"].error_subscribes = False
                # ccxt adds its own dial backoff after failed handshakes (0.1 s * 2**failures)
                for name in ("binance", "okx"):  # no round was served to them before
                    await harness.quote_with(servers[name], servers[name].expected_top(0), 10.0)
                assert service.health()[source_of(servers["okx"])] == "ok"

    warnings = [entry for entry in logs if entry["event"] == "ccxt feed error"]
    causes = sorted((entry["exchange"], entry["cause"]) for entry in warnings)
    assert causes == [("binance", "NetworkError"), ("okx", "BadRequest")]  # once per cause


async def test_a_quote_with_a_skewed_exchange_clock_is_flagged_and_not_published() -> None:
    async with serving("okx") as servers:
        server = servers["okx"]
        server.restamp = False  # the documented example's ts: 2020-08-10
        async with running(servers, QUIET) as harness:
            service = harness.service
            await until(lambda: service.skewed >= 1, "the skewed quote")
            await asyncio.sleep(0.1)

            assert harness.bbos == [] and service.published == 0
            assert service.messages == service.skewed == 1
            assert service.health()[source_of(server)].startswith("clock skew: exchange time -")

"""Wiring of the market data feeds: the OKX books and the ccxt quote feeds."""

from __future__ import annotations

from pathlib import Path

from pegkeeper.adapters.feeds.capture_server import CaptureReplayServer
from pegkeeper.adapters.feeds.ccxt_ws import CcxtTickerFeed, offline_markets
from pegkeeper.adapters.feeds.okx_books import OkxBooks
from pegkeeper.adapters.feeds.okx_ws import OkxPublicWebSocket, OkxWebSocketSettings
from pegkeeper.config import Settings
from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.ports import Bus, Clock
from pegkeeper.services.market.bbo_feeds import BboFeedService, BboFeedSettings
from pegkeeper.services.market.order_books import OkxBookService, OkxBookSettings


class LiveBooks:
    """The live OKX books for the price server: no book until the feed runs."""

    def __init__(self, inst_ids: list[str]) -> None:
        self._inst_ids = inst_ids
        self.service: OkxBookService | None = None

    def latest(self, inst_id: str) -> BookSnapshot | None:
        return None if self.service is None else self.service.latest(inst_id)

    def health(self) -> dict[str, str]:
        if self.service is None:
            return {inst_id: "the OKX books feed is not running" for inst_id in self._inst_ids}
        return self.service.health()


async def run_okx_books(
    settings: Settings, bus: Bus, clock: Clock, live: LiveBooks | None = None
) -> None:
    """The OKX books feed; with a capture file, from a local server that replays it."""
    capture = settings.market_data.okx.capture
    replay = CaptureReplayServer(Path(capture)) if capture else None
    try:
        url = await replay.start() if replay else settings.market_data.okx.url
        service = _okx_books(settings, bus, clock, url)
        if live is not None:
            live.service = service
        await service.run()
    finally:
        if replay is not None:
            await replay.stop()


def _okx_books(settings: Settings, bus: Bus, clock: Clock, url: str) -> OkxBookService:
    okx = settings.market_data.okx
    inst_ids = tuple(okx.inst_ids)
    feed = OkxPublicWebSocket(clock, OkxWebSocketSettings(url=url, inst_ids=inst_ids))
    return OkxBookService(
        feed,
        OkxBooks(),
        bus,
        clock,
        OkxBookSettings(
            inst_ids=inst_ids,
            publish_interval_ms=okx.publish_interval_ms,
            depth_levels=okx.depth_levels,
            resubscribe_after_seconds=okx.resubscribe_after_seconds,
            stale_after_seconds=okx.stale_after_seconds,
            max_clock_skew_ms=okx.max_clock_skew_ms,
        ),
    )


async def run_quote_feeds(settings: Settings, bus: Bus, clock: Clock) -> None:
    """The ccxt quote feeds; a source with a capture file replays it from a local server."""
    replays: list[CaptureReplayServer] = []
    try:
        urls = {}
        for name, source in settings.market_data.quotes.sources().items():
            if source.capture:
                replay = CaptureReplayServer(Path(source.capture))
                replays.append(replay)
                urls[name] = await replay.start()
        await quote_feeds(settings, bus, clock, urls).run()
    finally:
        for replay in replays:
            await replay.stop()


def quote_feeds(
    settings: Settings, bus: Bus, clock: Clock, capture_urls: dict[str, str] | None = None
) -> BboFeedService:
    quotes = settings.market_data.quotes
    replayed = capture_urls or {}
    feeds = [
        CcxtTickerFeed(
            name,
            source.symbols,
            clock,
            ws_url_override=replayed.get(name) or source.ws_url or None,
            rest_url_override=source.rest_url or None,
            markets=offline_markets(name, source.symbols)
            if source.offline_markets or name in replayed
            else None,
            method=source.method or None,
        )
        for name, source in quotes.sources().items()
    ]
    return BboFeedService(
        feeds,
        bus,
        clock,
        BboFeedSettings(
            resubscribe_after_seconds=quotes.resubscribe_after_seconds,
            stale_after_seconds=quotes.stale_after_seconds,
            max_clock_skew_ms=quotes.max_clock_skew_ms,
        ),
    )

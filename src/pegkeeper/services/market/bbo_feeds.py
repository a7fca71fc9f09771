"""Best bid and ask of every configured source to the bus, watched for silence and clock skew.

Each quote becomes a `BboUpdated` on `bbo.<exchange>.<BASE>-<QUOTE>`. A source (one market on
one exchange) silent for `resubscribe_after_seconds` makes its feed reconnect, at most once per
backoff window, the window doubling while the silence lasts; silent for `stale_after_seconds`,
the source is stale in `health()`. A quote whose exchange time is further than
`max_clock_skew_ms` from its receive time is held back and the source flagged until the clocks
agree again. A feed whose quote stream fails is restarted after a backoff with jitter, and never
stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from pegkeeper.domain.events import BboUpdated, bbo_topic, encode_event
from pegkeeper.ports import BboFeed, BestBidAsk, Bus, Clock

log = structlog.get_logger("pegkeeper.quotes_feed")

CAUSE_SILENT = "silent"


@dataclass(frozen=True, slots=True)
class BboFeedSettings:
    resubscribe_after_seconds: float = 10.0
    stale_after_seconds: float = 30.0
    max_clock_skew_ms: int = 5_000
    reconnect_backoff_base_seconds: float = 1.0
    reconnect_backoff_cap_seconds: float = 60.0
    restart_backoff_base_seconds: float = 1.0
    restart_backoff_cap_seconds: float = 60.0
    tick_seconds: float = 0.25


@dataclass(slots=True)
class _Source:
    exchange: str
    market: str  # BASE-QUOTE
    quote_ms: int | None = None  # clock time of the last quote
    skew_ms: int | None = None  # set while the exchange time is too far from ours
    stale: bool = False


@dataclass(slots=True)
class _FeedState:
    feed: BboFeed
    backoff_seconds: float
    sources: dict[str, _Source] = field(default_factory=dict)
    next_reconnect_ms: int = 0


def _jittered_backoff_seconds(
    attempt: int, base_seconds: float, cap_seconds: float, rng: random.Random
) -> float:
    ceiling = min(cap_seconds, base_seconds * (1 << min(attempt, 32)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class BboFeedService:
    """Counters: `messages`, `published`, `stale` (times a source went stale), `skewed` (quotes
    held back), `reconnects` and `reconnects_by_cause`, `errors_by_cause`."""

    def __init__(
        self,
        feeds: Sequence[BboFeed],
        bus: Bus,
        clock: Clock,
        settings: BboFeedSettings | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._settings = settings or BboFeedSettings()
        self._rng = rng or random.Random()
        self._states = [self._state_of(feed) for feed in feeds]
        self._started_ms = clock.now_ms()
        self._closing = False
        self._logged_causes: set[str] = set()
        self.messages = 0
        self.published = 0
        self.stale = 0
        self.skewed = 0
        self.reconnects = 0
        self.reconnects_by_cause: Counter[str] = Counter()
        self.errors_by_cause: Counter[str] = Counter()

    async def run(self) -> None:
        """Until every feed is closed (see `close()`) or the task is cancelled."""
        self._started_ms = self._clock.now_ms()
        watchdog = asyncio.create_task(self._watch(), name="quote-feed-watchdog")
        try:
            await asyncio.gather(*(self._run_feed(state) for state in self._states))
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            await self._close_feeds()

    async def close(self) -> None:
        self._closing = True
        await self._close_feeds()

    async def tick(self) -> None:
        """One watchdog pass: note stale sources and reconnect feeds with a silent source."""
        now_ms = self._clock.now_ms()
        resubscribe_after_ms = self._settings.resubscribe_after_seconds * 1000
        for state in self._states:
            silent = []
            for source in state.sources.values():
                age_ms = self._age_ms(source, now_ms)
                self._note_stale(source, age_ms)
                if age_ms > resubscribe_after_ms:
                    silent.append(source.market)
            if silent and now_ms >= state.next_reconnect_ms:
                await self._reconnect(state, silent, now_ms)

    def health(self) -> dict[str, str]:
        """Per "<exchange>.<BASE>-<QUOTE>": "ok", "no quote yet", "stale: ..." or "clock skew: ..."
        (stale first: a source may be both)."""
        now_ms = self._clock.now_ms()
        return {
            f"{source.exchange}.{source.market}": self._health_of(source, now_ms)
            for state in self._states
            for source in state.sources.values()
        }

    def is_stale(self, exchange: str, base: str, quote: str) -> bool:
        for state in self._states:
            source = state.sources.get(f"{base}-{quote}")
            if source is not None and source.exchange == exchange:
                return self._age_ms(source, self._clock.now_ms()) > self._stale_after_ms
        return True

    @property
    def _stale_after_ms(self) -> float:
        return self._settings.stale_after_seconds * 1000

    def _state_of(self, feed: BboFeed) -> _FeedState:
        state = _FeedState(feed, self._settings.reconnect_backoff_base_seconds)
        for base, quote in feed.markets:
            market = f"{base}-{quote}"
            state.sources[market] = _Source(feed.exchange, market)
        return state

    def _health_of(self, source: _Source, now_ms: int) -> str:
        age_ms = self._age_ms(source, now_ms)
        if age_ms > self._stale_after_ms:
            return f"stale: no quote for {age_ms / 1000:.1f} s"
        if source.skew_ms is not None:
            return f"clock skew: exchange time {source.skew_ms:+d} ms from receive time"
        if source.quote_ms is None:
            return "no quote yet"
        return "ok"

    def _age_ms(self, source: _Source, now_ms: int) -> int:
        since_ms = self._started_ms if source.quote_ms is None else source.quote_ms
        return max(0, now_ms - since_ms)

    async def _watch(self) -> None:
        while True:
            await self._clock.sleep(self._settings.tick_seconds)
            try:
                await self.tick()
            except Exception as exc:
                self._note_error("watchdog", exc)

    async def _run_feed(self, state: _FeedState) -> None:
        settings = self._settings
        attempt = 0
        while not self._closing:
            quotes = state.feed.quotes()
            try:
                async for quote in quotes:
                    attempt = 0
                    await self._on_quote(state, quote)
                return  # the feed was closed
            except Exception as exc:
                self._note_error(state.feed.exchange, exc)
            finally:
                aclose = getattr(quotes, "aclose", None)
                if aclose is not None:
                    await aclose()
            delay = _jittered_backoff_seconds(
                attempt,
                settings.restart_backoff_base_seconds,
                settings.restart_backoff_cap_seconds,
                self._rng,
            )
            attempt += 1
            await self._clock.sleep(delay)

    async def _on_quote(self, state: _FeedState, quote: BestBidAsk) -> None:
        self.messages += 1
        now_ms = self._clock.now_ms()
        market = f"{quote.base}-{quote.quote}"
        source = state.sources.get(market)
        if source is None:
            source = state.sources[market] = _Source(quote.exchange, market)
        source.quote_ms = now_ms
        if now_ms >= state.next_reconnect_ms:
            # quotes through the whole backoff window: the next silence starts from the base
            state.backoff_seconds = self._settings.reconnect_backoff_base_seconds
        self._note_stale(source, 0)
        if quote.exchange_ms is not None and self._skewed(
            source, quote.exchange_ms - quote.receive_ms
        ):
            return
        await self._publish(quote)

    async def _publish(self, quote: BestBidAsk) -> None:
        event = BboUpdated(
            exchange=quote.exchange,
            base=quote.base,
            quote=quote.quote,
            bid=quote.bid,
            ask=quote.ask,
            ts_ms=quote.receive_ms if quote.exchange_ms is None else quote.exchange_ms,
            receive_ms=quote.receive_ms,
            bid_size=quote.bid_size,
            ask_size=quote.ask_size,
        )
        topic = bbo_topic(quote.exchange, quote.base, quote.quote)
        try:
            await self._bus.publish(topic, encode_event(event))
        except Exception as exc:
            self._note_error("publish", exc)
            return
        self.published += 1

    async def _reconnect(self, state: _FeedState, silent: list[str], now_ms: int) -> None:
        self.reconnects += 1
        self.reconnects_by_cause[CAUSE_SILENT] += 1
        state.next_reconnect_ms = now_ms + int(state.backoff_seconds * 1000)
        exchange = state.feed.exchange
        log.warning(
            "quote source silent, reconnecting",
            exchange=exchange,
            markets=silent,
            next_allowed_in_seconds=state.backoff_seconds,
        )
        state.backoff_seconds = min(
            state.backoff_seconds * 2, self._settings.reconnect_backoff_cap_seconds
        )
        try:
            await state.feed.reconnect(f"{CAUSE_SILENT}: {', '.join(silent)}")
        except Exception as exc:
            self._note_error(exchange, exc)

    def _note_stale(self, source: _Source, age_ms: int) -> None:
        stale = age_ms > self._stale_after_ms
        if stale and not source.stale:
            self.stale += 1
            log.error(
                "quote source stale",
                exchange=source.exchange,
                market=source.market,
                no_quote_for_ms=age_ms,
            )
        elif source.stale and not stale:
            log.info("quote source fresh again", exchange=source.exchange, market=source.market)
        source.stale = stale

    def _skewed(self, source: _Source, skew_ms: int) -> bool:
        """Whether the exchange time is too far from the receive time to trust the quote."""
        if abs(skew_ms) <= self._settings.max_clock_skew_ms:
            if source.skew_ms is not None:
                log.info("quote clock skew cleared", exchange=source.exchange, market=source.market)
                source.skew_ms = None
            return False
        self.skewed += 1
        if source.skew_ms is None:
            log.warning(
                "quote clock skew, not published",
                exchange=source.exchange,
                market=source.market,
                skew_ms=skew_ms,
            )
        source.skew_ms = skew_ms
        return True

    def _note_error(self, where: str, error: BaseException) -> None:
        cause = f"{where}: {type(error).__name__}"
        self.errors_by_cause[cause] += 1
        if cause in self._logged_causes:
            log.debug("quote feed error again", cause=cause)
            return
        self._logged_causes.add(cause)
        log.warning("quote feed error", cause=cause, error=str(error)[:300])

    async def _close_feeds(self) -> None:
        feeds = [state.feed for state in self._states]
        results = await asyncio.gather(*(feed.close() for feed in feeds), return_exceptions=True)
        for feed, result in zip(feeds, results, strict=True):
            if isinstance(result, Exception):
                self._note_error(feed.exchange, result)

"""OKX order books from the public WebSocket to the bus: checked, throttled and watched.

A book goes out only while its last message passed the checksum (or seqId) check, its exchange
time is close to the local receive time and it is not stale; at most once per
`publish_interval_ms` per instrument, the latest checked state following when the interval ends.
A failed check asks the feed for a fresh snapshot at once; repeated failures, and a feed that
stays silent, are retried with a doubling backoff so that nothing loops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass

import structlog

from pegkeeper.domain.events import BboUpdated, bbo_topic, encode_event
from pegkeeper.domain.market_events import (
    BookSnapshot,
    Level,
    OrderBookPublished,
    book_topic,
    encode_book,
    split_inst_id,
)
from pegkeeper.domain.orderbook import BookResult, OkxBook, Side
from pegkeeper.ports import BookDecoder, Bus, Clock, RawMessageFeed

log = structlog.get_logger("pegkeeper.market_data")

SOURCE = "okx"
CAUSE_SILENT = "silent"


@dataclass(frozen=True, slots=True)
class OkxBookSettings:
    inst_ids: tuple[str, ...] = ("BTC-USD-SWAP",)
    publish_interval_ms: int = 500
    depth_levels: int = 50
    resubscribe_after_seconds: float = 10.0
    stale_after_seconds: float = 30.0
    resubscribe_backoff_base_seconds: float = 1.0
    resubscribe_backoff_cap_seconds: float = 60.0
    max_clock_skew_ms: int = 5_000
    tick_seconds: float = 0.1  # watchdog and trailing publication


@dataclass(slots=True)
class _Top:
    """The last checked state of a book, top levels as received."""

    ts_ms: int
    receive_ms: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@dataclass(slots=True)
class _Instrument:
    backoff_seconds: float
    top: _Top | None = None  # the last checked state, copied from `book` only when needed
    book: OkxBook | None = None
    checked_ts_ms: int = 0
    checked_receive_ms: int = 0
    top_outdated: bool = False  # `book` has checked updates that `top` does not have yet
    snapshot: BookSnapshot | None = None  # `top` as Decimal, built on demand
    valid_ms: int | None = None  # clock time of the last checked update
    published_ms: int | None = None
    unpublished: bool = False  # a checked update held back by the throttle
    skew_ms: int | None = None  # set while the exchange time is too far from ours
    awaiting_snapshot: bool = False
    wanted_cause: str | None = None  # a resubscribe held back by the backoff
    next_resubscribe_ms: int = 0
    stale: bool = False


class OkxBookService:
    """Counters: `messages`, `published`, `checksum_failed`, `gaps`, `resubscribes` (and
    `resubscribes_by_cause`), `malformed`, `skewed`."""

    def __init__(
        self,
        feed: RawMessageFeed,
        decoder: BookDecoder,
        bus: Bus,
        clock: Clock,
        settings: OkxBookSettings | None = None,
    ) -> None:
        self._feed = feed
        self._bus = bus
        self._clock = clock
        self._settings = settings or OkxBookSettings()
        self._books = decoder
        self._started_ms = clock.now_ms()
        self._states: dict[str, _Instrument] = {}
        for inst_id in self._settings.inst_ids:
            self._state(inst_id)
        self.messages = 0
        self.published = 0
        self.checksum_failed = 0
        self.gaps = 0
        self.resubscribes = 0
        self.resubscribes_by_cause: Counter[str] = Counter()
        self.malformed = 0
        self.skewed = 0

    async def run(self) -> None:
        self._started_ms = self._clock.now_ms()
        watchdog = asyncio.create_task(self._watch(), name="okx-book-watchdog")
        messages = self._feed.messages()
        try:
            async for receive_ms, raw in messages:
                await self.handle(receive_ms, raw)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            aclose = getattr(messages, "aclose", None)
            if aclose is not None:
                await aclose()

    async def handle(self, receive_ms: int, raw: bytes) -> None:
        self.messages += 1
        malformed_before = self._books.tally.malformed
        update = self._books.decode(raw)
        self.malformed += self._books.tally.malformed - malformed_before
        if update is None:
            return
        if update.result is BookResult.OK:
            await self._on_checked(update.inst_id, update.book, receive_ms)
        else:
            await self._on_failed(update.inst_id, update.result)

    async def tick(self) -> None:
        """One watchdog pass: resubscribe silent or failed books, mark stale ones, and publish
        what the throttle held back."""
        now_ms = self._clock.now_ms()
        for inst_id, state in list(self._states.items()):
            age_ms = self._age_ms(state, now_ms)
            self._note_stale(inst_id, state, age_ms)
            if now_ms >= state.next_resubscribe_ms:
                if state.wanted_cause is not None:
                    await self._resubscribe(inst_id, state, state.wanted_cause, now_ms)
                elif age_ms > self._settings.resubscribe_after_seconds * 1000:
                    await self._resubscribe(inst_id, state, CAUSE_SILENT, now_ms)
            await self._publish_if_due(inst_id, state, now_ms)

    def latest(self, inst_id: str) -> BookSnapshot | None:
        """The last checked book, or None while there is none, it is stale or the source's
        clock is off."""
        state = self._states.get(inst_id)
        if state is None or state.skew_ms is not None:
            return None
        if self._age_ms(state, self._clock.now_ms()) > self._stale_after_ms:
            return None
        top = self._current_top(state)
        if top is None:
            return None
        if state.snapshot is None:
            state.snapshot = BookSnapshot.from_levels(
                SOURCE, inst_id, top.ts_ms, top.receive_ms, top.bids, top.asks
            )
        return state.snapshot

    def is_stale(self, inst_id: str) -> bool:
        state = self._states.get(inst_id)
        if state is None:
            return True
        return self._age_ms(state, self._clock.now_ms()) > self._stale_after_ms

    def health(self) -> dict[str, str]:
        now_ms = self._clock.now_ms()
        return {inst_id: self._health_of(state, now_ms) for inst_id, state in self._states.items()}

    def _health_of(self, state: _Instrument, now_ms: int) -> str:
        age_ms = self._age_ms(state, now_ms)
        if age_ms > self._stale_after_ms:
            return f"stale: no valid book for {age_ms / 1000:.1f} s"
        if state.skew_ms is not None:
            return f"clock skew: exchange time {state.skew_ms:+d} ms from receive time"
        if state.valid_ms is None:
            return "no book yet"
        return "ok"

    @property
    def _stale_after_ms(self) -> float:
        return self._settings.stale_after_seconds * 1000

    def _age_ms(self, state: _Instrument, now_ms: int) -> int:
        since_ms = self._started_ms if state.valid_ms is None else state.valid_ms
        return max(0, now_ms - since_ms)

    def _state(self, inst_id: str) -> _Instrument:
        state = self._states.get(inst_id)
        if state is None:
            state = _Instrument(self._settings.resubscribe_backoff_base_seconds)
            self._states[inst_id] = state
        return state

    async def _watch(self) -> None:
        while True:
            await self._clock.sleep(self._settings.tick_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("okx book watchdog pass failed")

    async def _on_checked(self, inst_id: str, book: OkxBook, receive_ms: int) -> None:
        state = self._state(inst_id)
        now_ms = self._clock.now_ms()
        state.valid_ms = now_ms
        state.awaiting_snapshot = False
        state.wanted_cause = None
        if now_ms >= state.next_resubscribe_ms:
            # valid through the whole backoff window: the next failure starts from the base
            state.backoff_seconds = self._settings.resubscribe_backoff_base_seconds
        self._note_stale(inst_id, state, 0)
        if self._note_skew(inst_id, state, book.ts_ms - receive_ms):
            state.unpublished = False
            return
        # Copying the top levels costs more than the merge; done when published or read.
        state.book = book
        state.checked_ts_ms = book.ts_ms
        state.checked_receive_ms = receive_ms
        state.top_outdated = True
        state.snapshot = None
        state.unpublished = True
        await self._publish_if_due(inst_id, state, now_ms)

    def _current_top(self, state: _Instrument) -> _Top | None:
        """The last checked state. A book that failed a check since then keeps the last copy."""
        book = state.book
        if state.top_outdated and book is not None and book.valid:
            depth = self._settings.depth_levels
            state.top = _Top(
                state.checked_ts_ms,
                state.checked_receive_ms,
                tuple(book.raw_levels(Side.BID, depth)),
                tuple(book.raw_levels(Side.ASK, depth)),
            )
            state.top_outdated = False
        return state.top

    async def _on_failed(self, inst_id: str, result: BookResult) -> None:
        state = self._state(inst_id)
        state.unpublished = False
        if result is BookResult.SEQUENCE_GAP and state.awaiting_snapshot:
            return  # updates after a lost book, until the snapshot that replaces it
        state.awaiting_snapshot = True
        if result is BookResult.CHECKSUM_MISMATCH:
            self.checksum_failed += 1
        else:
            self.gaps += 1
        now_ms = self._clock.now_ms()
        if now_ms < state.next_resubscribe_ms:
            state.wanted_cause = result.value
            log.info(
                "okx book check failed, resubscribe deferred", inst_id=inst_id, cause=result.value
            )
            return
        await self._resubscribe(inst_id, state, result.value, now_ms)

    async def _resubscribe(self, inst_id: str, state: _Instrument, cause: str, now_ms: int) -> None:
        self.resubscribes += 1
        self.resubscribes_by_cause[cause] += 1
        state.wanted_cause = None
        state.awaiting_snapshot = True
        state.next_resubscribe_ms = now_ms + int(state.backoff_seconds * 1000)
        log.warning(
            "okx book resubscribe",
            inst_id=inst_id,
            cause=cause,
            valid_age_ms=self._age_ms(state, now_ms),
            next_allowed_in_seconds=state.backoff_seconds,
        )
        state.backoff_seconds = min(
            state.backoff_seconds * 2, self._settings.resubscribe_backoff_cap_seconds
        )
        try:
            await self._feed.resubscribe(inst_id)
        except Exception:
            log.exception("okx book resubscribe failed", inst_id=inst_id)

    def _note_stale(self, inst_id: str, state: _Instrument, age_ms: int) -> None:
        stale = age_ms > self._stale_after_ms
        if stale and not state.stale:
            log.error("okx book stale", inst_id=inst_id, no_valid_book_for_ms=age_ms)
        elif state.stale and not stale:
            log.info("okx book fresh again", inst_id=inst_id)
        state.stale = stale

    def _note_skew(self, inst_id: str, state: _Instrument, skew_ms: int) -> bool:
        """Whether the exchange time is too far from the receive time to trust the source."""
        if abs(skew_ms) <= self._settings.max_clock_skew_ms:
            if state.skew_ms is not None:
                log.info("okx book clock skew cleared", inst_id=inst_id, skew_ms=skew_ms)
                state.skew_ms = None
            return False
        self.skewed += 1
        if state.skew_ms is None:
            log.warning("okx book clock skew, not published", inst_id=inst_id, skew_ms=skew_ms)
        state.skew_ms = skew_ms
        state.top = None
        state.top_outdated = False
        state.snapshot = None
        return True

    async def _publish_if_due(self, inst_id: str, state: _Instrument, now_ms: int) -> None:
        if not state.unpublished or state.stale:
            return
        last_ms = state.published_ms
        if last_ms is not None and now_ms - last_ms < self._settings.publish_interval_ms:
            return
        top = self._current_top(state)
        if top is None:
            return
        state.unpublished = False
        state.published_ms = now_ms
        await self._publish(inst_id, top)

    async def _publish(self, inst_id: str, top: _Top) -> None:
        bid_px, bid_sz = top.bids[0] if top.bids else (None, None)
        ask_px, ask_sz = top.asks[0] if top.asks else (None, None)
        book = OrderBookPublished(
            source=SOURCE,
            inst_id=inst_id,
            ts_ms=top.ts_ms,
            receive_ms=top.receive_ms,
            best_bid_price=bid_px,
            best_bid_size=bid_sz,
            best_ask_price=ask_px,
            best_ask_size=ask_sz,
            bids=top.bids,
            asks=top.asks,
        )
        base, quote = split_inst_id(inst_id)
        bbo = BboUpdated(
            exchange=SOURCE,
            base=base,
            quote=quote,
            bid=bid_px,
            ask=ask_px,
            ts_ms=top.ts_ms,
            receive_ms=top.receive_ms,
            bid_size=bid_sz,
            ask_size=ask_sz,
        )
        await self._bus.publish(book_topic(SOURCE, inst_id), encode_book(book))
        await self._bus.publish(bbo_topic(SOURCE, base, quote), encode_event(bbo))
        self.published += 1

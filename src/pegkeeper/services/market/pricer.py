"""Prices for the wallet: the current book, checked for staleness, through the quote math.

The book comes from a BookProvider (the live OKX feed or a recorded book). Its age is measured
from the exchange's own timestamp; a book older than `stale_after_ms` is never quoted. A
recorded book has no age limit (`stale_after_ms=None`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.domain.quote_math import (
    Direction,
    FeeRates,
    QuoteBook,
    cents_from_sats,
    mid_rate_cents_per_sat,
    sats_from_cents,
)
from pegkeeper.ports import BookProvider, Clock


class BookUnavailable(Exception):
    """No book fresh enough to quote from; the message names the source and the age."""


@dataclass(frozen=True, slots=True)
class PricerSettings:
    inst_id: str = "BTC-USD-SWAP"
    stale_after_ms: int | None = 30_000  # None: never stale (a recorded book)
    fees: FeeRates = field(default_factory=FeeRates)


@dataclass(frozen=True, slots=True)
class BookStatus:
    fresh: bool
    detail: str  # "ok", or why no quote can be made


class Pricer:
    def __init__(
        self,
        books: BookProvider,
        clock: Clock,
        settings: PricerSettings,
        source: str,
    ) -> None:
        self._books = books
        self._clock = clock
        self._settings = settings
        self.source = source  # for messages: "okx live feed", "book file X"
        self._immediate_rate = settings.fees.rate(immediate=True)
        self._delayed_rate = settings.fees.rate(immediate=False)
        self._snapshot: BookSnapshot | None = None
        self._book: QuoteBook | None = None

    @property
    def inst_id(self) -> str:
        return self._settings.inst_id

    def fee_rate(self, immediate: bool) -> Decimal:
        return self._immediate_rate if immediate else self._delayed_rate

    def book(self) -> QuoteBook:
        """The book to quote from; raises BookUnavailable when there is none fresh enough."""
        snapshot = self._books.latest(self._settings.inst_id)
        if snapshot is None:
            raise BookUnavailable(self._why_no_book())
        self._check_age(snapshot)
        if snapshot is not self._snapshot:
            self._book = self._convert(snapshot)
            self._snapshot = snapshot
        assert self._book is not None
        return self._book

    def cents_from_sats(self, direction: Direction, sats: int, immediate: bool) -> int:
        return cents_from_sats(self.book(), direction, sats, self.fee_rate(immediate))

    def sats_from_cents(self, direction: Direction, cents: int, immediate: bool) -> int:
        return sats_from_cents(self.book(), direction, cents, self.fee_rate(immediate))

    def mid_rate_cents_per_sat(self) -> Decimal:
        return mid_rate_cents_per_sat(self.book())

    def status(self) -> BookStatus:
        try:
            self.book()
        except BookUnavailable as error:
            return BookStatus(False, str(error))
        return BookStatus(True, "ok")

    def _why_no_book(self) -> str:
        inst_id = self._settings.inst_id
        reason = self._books.health().get(inst_id, f"no {inst_id} book in this source")
        return f"no fresh {inst_id} book from the {self.source}: {reason}"

    def _check_age(self, snapshot: BookSnapshot) -> None:
        limit_ms = self._settings.stale_after_ms
        if limit_ms is None:
            return
        age_ms = self._clock.now_ms() - snapshot.ts_ms
        if age_ms > limit_ms:
            raise BookUnavailable(
                f"the {snapshot.inst_id} book from the {self.source} is {age_ms / 1000:.1f} s "
                f"old (exchange time {snapshot.ts_ms} ms), beyond the "
                f"{limit_ms / 1000:g} s limit (price_server.stale_after_seconds)"
            )

    def _convert(self, snapshot: BookSnapshot) -> QuoteBook:
        if not snapshot.bids or not snapshot.asks:
            side = "bids" if not snapshot.bids else "asks"
            raise BookUnavailable(
                f"the {snapshot.inst_id} book from the {self.source} has no {side}"
            )
        try:
            return QuoteBook.from_contracts(
                snapshot.bids, snapshot.asks, snapshot.ts_ms, snapshot.source
            )
        except InvalidInput as error:
            raise BookUnavailable(f"the book from the {self.source} is unusable: {error}") from None

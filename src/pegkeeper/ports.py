"""The Protocols services depend on. Adapters implement them; bootstrap wires them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Protocol

from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.liability import LedgerEntry, LiabilityChange, LiabilityEvent
from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.domain.orders import Fill, OrderIntent, OrderReport, OrderState
from pegkeeper.domain.quotes import Quote
from pegkeeper.domain.records import DecisionRecord, OrderRecord, PegStatsRow, PositionSnapshot
from pegkeeper.domain.venue import VenueBalances, VenuePosition, VenueResync


class Clock(Protocol):
    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of this clock's time (a simulated clock may run faster)."""
        ...


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, topic: str, payload: bytes) -> None: ...

    def subscribe(self, pattern: str) -> Subscription:
        """Messages on topics matching `pattern` ("liability", "bbo.*") from now on."""
        ...


class RawMessageFeed(Protocol):
    """Raw exchange frames with their local receive time, and a way to ask for a snapshot."""

    def messages(self) -> AsyncIterator[tuple[int, bytes]]: ...

    async def resubscribe(self, inst_id: str) -> None: ...


class BestBidAsk(Protocol):
    """One normalised top-of-book update; prices and sizes are decimal strings."""

    @property
    def exchange(self) -> str: ...
    @property
    def base(self) -> str: ...
    @property
    def quote(self) -> str: ...
    @property
    def bid(self) -> str | None: ...
    @property
    def ask(self) -> str | None: ...
    @property
    def bid_size(self) -> str | None: ...
    @property
    def ask_size(self) -> str | None: ...
    @property
    def exchange_ms(self) -> int | None: ...
    @property
    def receive_ms(self) -> int: ...


class BookProvider(Protocol):
    """Order books for the price server: the live OKX feed, or a recorded book."""

    def latest(self, inst_id: str) -> BookSnapshot | None:
        """The current checked book, or None while there is none or it is not to be trusted."""
        ...

    def health(self) -> dict[str, str]:
        """Per instrument: "ok", or why there is no book to quote from."""
        ...


class QuoteFeed(Protocol):
    """One exchange's quotes for a fixed set of markets, (base, quote) pairs."""

    @property
    def exchange(self) -> str: ...
    @property
    def markets(self) -> Sequence[tuple[str, str]]: ...

    def quotes(self) -> AsyncIterator[BestBidAsk]:
        """Quotes until `close()`; connection errors are retried inside."""
        ...

    async def reconnect(self, cause: str) -> None: ...

    async def close(self) -> None: ...


class Venue(Protocol):
    """A derivatives venue. Every order carries pegkeeper's client order id.

    `place_market_order` and `close_position` raise OrderRejected when the venue refused (no
    effect), VenueUnavailable when it did not process the request, and VenueUncertain when the
    outcome is unknown: the caller must then look the client id up with `order` before acting.
    """

    name: str

    async def instrument(self, instrument_id: str) -> Instrument: ...

    async def position(self, instrument_id: str) -> VenuePosition: ...

    async def balances(self, currency: str) -> VenueBalances: ...

    async def place_market_order(self, intent: OrderIntent) -> OrderReport: ...

    async def place_limit_order(self, intent: OrderIntent) -> OrderReport:
        """A limit or post-only order at `intent.limit_price_usd`; it may rest (state accepted)
        until filled or canceled. A post-only order that would take liquidity is canceled."""
        ...

    async def close_position(self, intent: OrderIntent) -> OrderReport: ...

    async def order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        """The venue's view of an order; raises NotFound when the venue does not know it."""
        ...

    async def open_orders(self, instrument_id: str) -> list[OrderReport]:
        """Every order live at the venue on this instrument, pegkeeper's or not."""
        ...

    async def cancel_order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        """Raises NotFound for an unknown order, OrderRejected when it is already final."""
        ...

    def position_changes(self, instrument_id: str) -> AsyncIterator[VenuePosition | VenueResync]:
        """Yields the position whenever the venue reports it changed (fills, liquidation), and
        a VenueResync after the stream was interrupted (then read everything again)."""
        ...


class LiabilityRepository(Protocol):
    async def append(
        self, change: LiabilityChange, correlation_id: str, now_ms: int
    ) -> tuple[LiabilityEvent, bool]:
        """Append atomically; returns (event, created). The same id again returns the stored
        event with created=False; the same id with other content raises ConflictError; a change
        that would take the balance below 0 raises ConflictError and writes nothing."""
        ...

    async def balance_cents(self) -> int: ...

    async def get(self, event_id: str) -> LiabilityEvent | None: ...

    async def recent(self, limit: int) -> list[LiabilityEvent]: ...


class QuoteRepository(Protocol):
    async def create(self, quote: Quote, entry: LedgerEntry | None = None) -> LiabilityEvent | None:
        """Store the quote with its `created` event in one transaction. With `entry` the quote
        (in state accepted) is accepted in that same transaction: its `accepted` event and the
        ledger entry are appended too, and the ledger event is returned. A ledger refusal
        (ConflictError) writes nothing."""
        ...

    async def accept(
        self, quote_id: str, now_ms: int, entry: LedgerEntry
    ) -> tuple[Quote, LiabilityEvent, bool]:
        """In one transaction: mark the quote accepted, append its `accepted` event and the
        ledger entry; returns (quote, ledger event, whether the event is new). Raises
        QuoteNotFound, QuoteNotAcceptable (expired at now_ms, or accepted before) or the
        ledger's ConflictError; then nothing is written. Of two concurrent accepts of one
        quote exactly one succeeds."""
        ...

    async def get(self, quote_id: str) -> Quote | None: ...

    async def events(self, quote_id: str) -> list[tuple[str, int]]:
        """The quote's events as (kind, created_at_ms), oldest first."""
        ...


class HedgeRepository(Protocol):
    async def record_decision(
        self, decision: DecisionRecord, order: OrderIntent | None = None
    ) -> None:
        """Store the decision and, when given, the order it makes (with its `created` state)
        in one committed transaction: the order row exists before the order is sent."""
        ...

    async def last_decision(self) -> DecisionRecord | None: ...

    async def get_decision(self, decision_id: str) -> DecisionRecord | None: ...

    async def create_order(self, intent: OrderIntent) -> None:
        """Store the order and its `created` state in one committed transaction."""
        ...

    async def record_order_state(
        self,
        client_order_id: str,
        state: OrderState,
        now_ms: int,
        *,
        venue_order_id: str = "",
        filled_contracts: Decimal = Decimal(0),
        avg_price_usd: Decimal | None = None,
        message: str = "",
        fills: Sequence[Fill] = (),
    ) -> None:
        """Append the order's new state, and its fills not seen before, in one transaction."""
        ...

    async def record_fills(self, fills: list[Fill], correlation_id: str) -> int:
        """Store fills not seen before (idempotent on fill id); returns how many were new."""
        ...

    async def get_order(self, client_order_id: str) -> OrderRecord | None: ...

    async def open_orders(self) -> list[OrderRecord]:
        """Orders whose latest state is not terminal, oldest first."""
        ...

    async def recent_orders(self, limit: int) -> list[OrderRecord]: ...

    async def fills_for(self, client_order_id: str) -> list[Fill]: ...

    async def record_position(self, snapshot: PositionSnapshot) -> None: ...

    async def last_position(self) -> PositionSnapshot | None: ...


class PegRepository(Protocol):
    async def record(self, rows: Sequence[PegStatsRow]) -> None: ...

    async def history(
        self, symbol: str, since_ms: int, until_ms: int, max_points: int
    ) -> list[PegStatsRow]:
        """Rows in [since_ms, until_ms], oldest first, thinned evenly to at most max_points."""
        ...

    async def downsample(self, older_than_ms: int) -> int:
        """Replace the raw rows of whole minutes before `older_than_ms` by one row per minute
        (the last of each); returns how many minute rows were written."""
        ...


class Store(Protocol):
    liability: LiabilityRepository
    quotes: QuoteRepository
    hedge: HedgeRepository
    pegs: PegRepository

    async def close(self) -> None: ...

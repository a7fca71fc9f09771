"""Market data coming in: raw exchange frames, their decoders, best bid/offer feeds of the markets
pegkeeper watches, and the order books the price server quotes from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.domain.orderbook import BooksTally, BookUpdate, OkxBook


class RawMessageFeed(Protocol):
    """Raw exchange frames with their local receive time, and a way to ask for a snapshot."""

    def messages(self) -> AsyncIterator[tuple[int, bytes]]: ...

    async def resubscribe(self, inst_id: str) -> None: ...


class BookDecoder(Protocol):
    """A venue's order book messages, raw as received, into its books: each message is parsed,
    applied to its instrument's book and checked (checksum, sequence). Bad input raises
    nothing: it is counted in `tally`, and a malformed book message drops its book."""

    @property
    def tally(self) -> BooksTally: ...

    @property
    def books(self) -> Mapping[str, OkxBook]: ...

    @property
    def last_inst_id(self) -> str | None:
        """The instrument of the last book message handled."""
        ...

    def decode(self, raw: bytes) -> BookUpdate | None:
        """None for a message that carries no book data (an acknowledgement, another channel,
        bytes that cannot be parsed)."""
        ...


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


class BboFeed(Protocol):
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

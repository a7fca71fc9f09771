"""Best bid and ask through ccxt's async WebSocket clients (ccxt.pro), one client per exchange.

Each market is watched with the method its exchange serves best: `watch_bids_asks` (OKX
bbo-tbt, Binance bookTicker, Kraken v2 ticker triggered on bbo), `watch_ticker` (Coinbase
Advanced Trade ticker, which carries the best bid and ask) or `watch_order_book` read at the top
level (Bitstamp diff_order_book, synchronised by ccxt with a REST snapshot). ccxt parses numbers
as Decimal here, so prices and sizes keep the digits the exchange sent.

A failed watch is counted by cause, logged once per cause and retried after an exponential
backoff with jitter. `reconnect()` drops the exchange's sockets so that the next watch dials
again and subscribes afresh: the cure for a connection that stays open but goes silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import ccxt.pro
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from pegkeeper.adapters.feeds.okx_ws import backoff_seconds
from pegkeeper.ports import Clock

log = structlog.get_logger("pegkeeper.feeds.ccxt_ws")

WatchMethod = Literal["bids_asks", "ticker", "order_book"]

DEFAULT_METHODS: dict[str, WatchMethod] = {
    "okx": "bids_asks",
    "binance": "bids_asks",
    "kraken": "bids_asks",
    "coinbase": "ticker",
    "bitstamp": "order_book",
}
# where each exchange keeps the public WebSocket URL that these watch methods dial
_WS_URL_KEYS: dict[str, tuple[str, ...]] = {
    "okx": (),  # ccxt appends /public
    "binance": ("spot",),  # ccxt appends /<stream number>
    "kraken": ("publicV2",),  # keep "v2" in the path: ccxt picks the ping format from it
    "coinbase": (),
    "bitstamp": (),
}
# REST base that ccxt calls while watching (Bitstamp's order book snapshot)
_REST_URL_KEYS: dict[str, str] = {"bitstamp": "public"}


@dataclass(frozen=True, slots=True)
class CcxtQuote:
    exchange: str
    base: str
    quote: str
    bid: str | None
    ask: str | None
    bid_size: str | None
    ask_size: str | None
    exchange_ms: int | None  # None when the channel carries no exchange time
    receive_ms: int


@dataclass(frozen=True, slots=True)
class CcxtFeedSettings:
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 30.0
    order_book_depth: int = 5  # levels asked of watch_order_book; only the top one is read
    queue_size: int = 1_000
    close_timeout_seconds: float = 2.0


class ReconnectRequested(Exception):
    """The feed dropped its sockets on purpose; the watch that was waiting starts again."""


def market_of(symbol: str) -> tuple[str, str]:
    """(base, quote) of a ccxt unified symbol; a contract's quote names its kind, as OKX does:
    BTC/USD:BTC -> (BTC, USD-SWAP), BTC/USD:BTC-250926 -> (BTC, USD-250926)."""
    pair, _, settle = symbol.partition(":")
    base, slash, quote = pair.partition("/")
    if not slash or not base or not quote:
        raise ValueError(f"expected a unified symbol like 'BTC/USDT', got {symbol!r}")
    if settle:
        expiry = settle.partition("-")[2]
        quote = f"{quote}-{expiry or 'SWAP'}"
    return base, quote


def offline_markets(exchange_id: str, symbols: Sequence[str]) -> list[dict[str, Any]]:
    """Minimal spot market records, enough for the watch methods above, so that ccxt needs no
    REST market load; ids are spelled the way each exchange spells them on its WebSocket."""
    markets = []
    for symbol in symbols:
        if ":" in symbol:
            raise ValueError(f"offline markets are spot only, got {symbol!r}")
        base, quote = market_of(symbol)
        market_id = _market_id(exchange_id, base, quote)
        markets.append(
            {
                "id": market_id,
                "lowercaseId": market_id.lower(),
                "symbol": symbol,
                "base": base,
                "quote": quote,
                "baseId": base,
                "quoteId": quote,
                "type": "spot",
                "spot": True,
                "margin": False,
                "swap": False,
                "future": False,
                "option": False,
                "contract": False,
                "active": True,
                "info": {"wsname": f"{'XBT' if base == 'BTC' else base}/{quote}"},
            }
        )
    return markets


def _market_id(exchange_id: str, base: str, quote: str) -> str:
    if exchange_id in ("okx", "coinbase"):
        return f"{base}-{quote}"
    if exchange_id == "bitstamp":
        return f"{base}{quote}".lower()
    return f"{base}{quote}"


def _decimal_text(value: object) -> str | None:
    if value is None:
        return None
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return format(number, "f")


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))


class CcxtTickerFeed:
    """Counters: `quotes_received`, `errors` and `errors_by_cause`, `reconnects`.

    `quotes()` serves one consumer at a time and runs until `close()`.
    """

    def __init__(
        self,
        exchange_id: str,
        symbols: Sequence[str],
        clock: Clock,
        *,
        ws_url_override: str | None = None,
        rest_url_override: str | None = None,
        markets: Sequence[Mapping[str, Any]] | None = None,
        method: WatchMethod | None = None,
        settings: CcxtFeedSettings | None = None,
        ccxt_config: Mapping[str, Any] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if exchange_id not in DEFAULT_METHODS:
            raise ValueError(
                f"unsupported exchange {exchange_id!r}, expected {sorted(DEFAULT_METHODS)}"
            )
        if not symbols:
            raise ValueError(f"{exchange_id}: no symbols to watch")
        self.exchange = exchange_id
        self.symbols = tuple(symbols)
        self.markets = tuple(market_of(symbol) for symbol in self.symbols)
        self._labels = dict(zip(self.symbols, self.markets, strict=True))
        self._method: WatchMethod = method or DEFAULT_METHODS[exchange_id]
        self._clock = clock
        self._settings = settings or CcxtFeedSettings()
        self._rng = rng or random.Random()
        self._client = _make_client(
            exchange_id, ccxt_config, ws_url_override, rest_url_override, markets
        )
        self._queue: asyncio.Queue[CcxtQuote | None] | None = None
        self._watchers: list[asyncio.Task[None]] = []
        self._retiring: set[asyncio.Task[None]] = set()
        self._logged_causes: set[str] = set()
        self._closed = False
        self.quotes_received = 0
        self.errors = 0
        self.errors_by_cause: Counter[str] = Counter()
        self.reconnects = 0

    async def quotes(self) -> AsyncIterator[CcxtQuote]:
        if self._closed:
            return
        queue: asyncio.Queue[CcxtQuote | None] = asyncio.Queue(self._settings.queue_size)
        self._queue = queue
        self._watchers = [
            asyncio.create_task(self._watch_loop(group, queue), name=f"{self.exchange}-watch")
            for group in self._groups()
        ]
        try:
            while not self._closed:
                quote = await queue.get()
                if quote is None:
                    return
                yield quote
        finally:
            await self._stop_watchers()

    async def reconnect(self, cause: str = "requested") -> None:
        """Drop every socket of this exchange; waiting watches restart and subscribe again."""
        self.reconnects += 1
        clients: dict[str, Any] = getattr(self._client, "clients", None) or {}
        log.info("ccxt feed reconnect", exchange=self.exchange, cause=cause, sockets=len(clients))
        error = ReconnectRequested(cause)
        for url, client in list(clients.items()):
            del clients[url]
            client.error = error  # ccxt's close callback then leaves the next client for url alone
            client.reject(error)
            task = asyncio.create_task(self._retire(client))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._stop_watchers()
        queue = self._queue
        if queue is not None:
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)
        timeout = self._settings.close_timeout_seconds
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                await self._client.close()
        if self._retiring:
            await asyncio.wait(set(self._retiring), timeout=timeout)

    def _groups(self) -> list[tuple[str, ...]]:
        if self._method == "bids_asks":
            return [self.symbols]
        return [(symbol,) for symbol in self.symbols]

    async def _stop_watchers(self) -> None:
        watchers, self._watchers = self._watchers, []
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)

    async def _watch_loop(
        self, symbols: tuple[str, ...], queue: asyncio.Queue[CcxtQuote | None]
    ) -> None:
        settings = self._settings

        def backoff(state: RetryCallState) -> float:
            attempt = state.attempt_number - 1
            base, cap = settings.backoff_base_seconds, settings.backoff_cap_seconds
            return backoff_seconds(attempt, base, cap, self._rng)

        # every watch starts again from the first pause: a success resets the backoff
        retrying = AsyncRetrying(
            wait=backoff, retry=retry_if_exception(self._retried), before_sleep=self._note_error
        )
        while True:
            quotes: list[CcxtQuote] = await retrying(self._watch_until_answered, symbols)
            for quote in quotes:
                self.quotes_received += 1
                await queue.put(quote)

    async def _watch_until_answered(self, symbols: tuple[str, ...]) -> list[CcxtQuote]:
        while True:
            try:
                return await self._watch_once(symbols)
            except ReconnectRequested:
                continue  # not a failure: neither counted nor waited for

    @staticmethod
    def _retried(error: BaseException) -> bool:
        """ccxt's errors and parser bugs alike are retried, never fatal; so is a cancellation
        that ccxt makes of its own futures when it closes a socket, but not one of this task."""
        if isinstance(error, asyncio.CancelledError):
            task = asyncio.current_task()
            return task is not None and not task.cancelling()
        return isinstance(error, Exception)

    async def _watch_once(self, symbols: tuple[str, ...]) -> list[CcxtQuote]:
        client = self._client
        if self._method == "bids_asks":
            tickers: Mapping[str, Any] = await client.watch_bids_asks(list(symbols), {})
            receive_ms = self._clock.now_ms()
            return [
                self._from_ticker(symbol, ticker, receive_ms)
                for symbol, ticker in tickers.items()
                if symbol in self._labels
            ]
        symbol = symbols[0]
        if self._method == "ticker":
            ticker = await client.watch_ticker(symbol, {})
            return [self._from_ticker(symbol, ticker, self._clock.now_ms())]
        book = await client.watch_order_book(symbol, self._settings.order_book_depth)
        return [self._from_book(symbol, book, self._clock.now_ms())]

    def _from_ticker(self, symbol: str, ticker: Mapping[str, Any], receive_ms: int) -> CcxtQuote:
        base, quote = self._labels[symbol]
        return CcxtQuote(
            exchange=self.exchange,
            base=base,
            quote=quote,
            bid=_decimal_text(ticker.get("bid")),
            ask=_decimal_text(ticker.get("ask")),
            bid_size=_decimal_text(ticker.get("bidVolume")),
            ask_size=_decimal_text(ticker.get("askVolume")),
            exchange_ms=_int_or_none(ticker.get("timestamp")),
            receive_ms=receive_ms,
        )

    def _from_book(self, symbol: str, book: Mapping[str, Any], receive_ms: int) -> CcxtQuote:
        base, quote = self._labels[symbol]
        bids, asks = book.get("bids") or [], book.get("asks") or []
        bid_px, bid_sz = bids[0][:2] if bids else (None, None)
        ask_px, ask_sz = asks[0][:2] if asks else (None, None)
        return CcxtQuote(
            exchange=self.exchange,
            base=base,
            quote=quote,
            bid=_decimal_text(bid_px),
            ask=_decimal_text(ask_px),
            bid_size=_decimal_text(bid_sz),
            ask_size=_decimal_text(ask_sz),
            exchange_ms=_int_or_none(book.get("timestamp")),
            receive_ms=receive_ms,
        )

    def _note_error(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, asyncio.CancelledError):
            error = asyncio.CancelledError("ccxt future cancelled")
        cause = type(error).__name__
        self.errors += 1
        self.errors_by_cause[cause] += 1
        if cause in self._logged_causes:
            log.debug("ccxt feed error again", exchange=self.exchange, cause=cause)
        else:
            self._logged_causes.add(cause)
            log.warning(
                "ccxt feed error",
                exchange=self.exchange,
                cause=cause,
                error=str(error)[:300],
                retry_in_seconds=round(state.upcoming_sleep, 3),
            )

    async def _retire(self, client: Any) -> None:
        timeout = self._settings.close_timeout_seconds
        with contextlib.suppress(Exception):
            if client.connecting:  # a dial in flight would leave an orphan socket behind
                async with asyncio.timeout(timeout):
                    await asyncio.shield(client.connected)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                await client.close()


def _make_client(
    exchange_id: str,
    config: Mapping[str, Any] | None,
    ws_url: str | None,
    rest_url: str | None,
    markets: Sequence[Mapping[str, Any]] | None,
) -> Any:
    client = getattr(ccxt.pro, exchange_id)(dict(config or {}))
    client.number = Decimal
    api = client.urls["api"]
    if ws_url is not None:
        keys = _WS_URL_KEYS[exchange_id]
        if keys:
            api["ws"][keys[0]] = ws_url
        else:
            api["ws"] = ws_url
    if rest_url is not None:
        if exchange_id not in _REST_URL_KEYS:
            raise ValueError(f"{exchange_id}: its watch methods call no REST endpoint")
        api[_REST_URL_KEYS[exchange_id]] = rest_url
    if markets is not None:
        # ccxt indexes the records as given, so each must carry every key of its market structure
        client.set_markets([client.safe_market_structure(dict(market)) for market in markets])
    return client

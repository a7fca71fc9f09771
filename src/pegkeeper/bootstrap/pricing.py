"""Wiring of the price server: where its book comes from, the pricer, quotes, gRPC servers."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import grpc

from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.feeds.book_file import FileBookProvider
from pegkeeper.adapters.feeds.sim_books import SimBookProvider
from pegkeeper.api.grpc.server import GrpcServerSettings, PriceServers
from pegkeeper.api.grpc.timing import LatencyInterceptor, Observe
from pegkeeper.api.grpc.tracing import TracingInterceptor
from pegkeeper.bootstrap.feeds import LiveBooks
from pegkeeper.config import Settings
from pegkeeper.domain.quote_math import FeeRates
from pegkeeper.ports import BookProvider, Bus, Clock, QuoteRepository
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.market.bus_books import BusBooks
from pegkeeper.services.market.pricer import Pricer, PricerSettings
from pegkeeper.services.market.wallet_quotes import QuoteService
from pegkeeper.sim.engine import SimEngine

BUNDLED_BOOK = "okx-btc-usd-swap-books-snapshot.json"


class BookSourceError(ValueError):
    """The configured book cannot be used; names the file and the setting."""


@dataclass(frozen=True, slots=True)
class BookSource:
    books: BookProvider
    description: str  # for messages: "book file X", "OKX live books feed"
    live: LiveBooks | None  # set when the price server follows the live OKX feed
    bus_books: BusBooks | None = None  # set when it follows another process's feed

    @property
    def ages(self) -> bool:
        """Whether its books can go stale (a feed's do, a file's never)."""
        return self.live is not None or self.bus_books is not None


@dataclass
class Pricing:
    pricer: Pricer
    quotes: QuoteService
    live_books: LiveBooks | None
    bus_books: BusBooks | None = None


def bundled_book_path() -> Path:
    """A real OKX BTC-USD-SWAP books snapshot (2022-10-26), from stablesats' test fixtures."""
    resource = files("pegkeeper.sim").joinpath("data", BUNDLED_BOOK)
    if not isinstance(resource, Path):
        raise RuntimeError(f"{BUNDLED_BOOK} is not a file on disk; install pegkeeper unzipped")
    return resource


def build_pricing(
    settings: Settings,
    source: BookSource,
    quotes_repository: QuoteRepository,
    liability: LiabilityService,
) -> Pricing:
    live = source.live
    p = settings.price_server
    clock: Clock = RealClock()  # quotes expire and books age in wall-clock time
    pricer = Pricer(
        source.books,
        clock,
        PricerSettings(
            inst_id=p.inst_id,
            stale_after_ms=int(p.stale_after_seconds * 1000) if source.ages else None,
            fees=FeeRates(**p.fees.model_dump()),
        ),
        source.description,
    )
    quotes = QuoteService(
        pricer,
        quotes_repository,
        liability,
        clock,
        expiration_ms=int(p.quote_expiration_seconds * 1000),
    )
    return Pricing(pricer, quotes, live, source.bus_books)


def book_source(
    settings: Settings, sim_engine: SimEngine | None = None, bus: Bus | None = None
) -> BookSource:
    """The books on the bus when [price_server] books = "bus"; else an explicit book file;
    else the live feed when enabled; else the simulated exchange's own book when the hedger
    trades on it (the demo: users are quoted at the price the hedge trades at); else the
    bundled book. Raises BookSourceError when the file cannot be used."""
    market_data = settings.market_data
    if settings.price_server.books == "bus" and bus is not None:
        on_bus = BusBooks(bus, [settings.price_server.inst_id])
        # the feed, for a market-data service in the same process: not the price server's
        live = LiveBooks(market_data.okx.inst_ids) if market_data.okx.enabled else None
        return BookSource(on_bus, "books on the bus (the market-data feed)", live, on_bus)
    if market_data.okx_book_file:
        path = Path(market_data.okx_book_file)
        books = _file_books(path, settings, "market_data.okx_book_file")
        return BookSource(books, f"book file {path}", None)
    if market_data.okx.enabled:
        live = LiveBooks(market_data.okx.inst_ids)
        return BookSource(live, "OKX live books feed", live)
    if sim_engine is not None and settings.price_server.inst_id in sim_engine.instrument_ids:
        return BookSource(SimBookProvider(sim_engine), "OKX simulator's own book", None)
    path = bundled_book_path()
    books = _file_books(path, settings, "the bundled book")
    return BookSource(books, f"bundled book file {path.name}", None)


def refuse_file_book_with_real_venue(settings: Settings) -> None:
    """A real venue with a recorded book would quote users a price the market left long ago
    (and a recorded book is never stale): refused unless the override says it is meant.
    Raises BookSourceError naming the settings."""
    market_data = settings.market_data
    if market_data.okx.enabled and not market_data.okx_book_file:
        return
    if settings.price_server.books == "bus":
        return  # the market-data process's live books
    if settings.price_server.allow_file_book_with_real_venue:
        return
    book = market_data.okx_book_file or "the bundled 2022 book"
    raise BookSourceError(
        f"the price server would quote users from {book} while the hedger trades on a real "
        "venue: set [market_data.okx] enabled = true (and no okx_book_file) for live books, "
        "or [price_server] enabled = false, or [price_server] "
        "allow_file_book_with_real_venue = true if a recorded book is meant"
    )


def _file_books(path: Path, settings: Settings, origin: str) -> FileBookProvider:
    try:
        provider = FileBookProvider(path)
    except ValueError as error:
        raise BookSourceError(f"{error} ({origin})") from None
    wanted = settings.price_server.inst_id
    if provider.snapshot.inst_id != wanted:
        raise BookSourceError(
            f"the book file {path} holds {provider.snapshot.inst_id}, but the price server "
            f"quotes {wanted} (price_server.inst_id)"
        )
    return provider


def price_servers(
    settings: Settings, pricing: Pricing, observe_latency: Observe | None = None
) -> PriceServers:
    p = settings.price_server
    interceptors: list[grpc.aio.ServerInterceptor] = []
    if settings.tracing.otlp_endpoint:
        interceptors.append(TracingInterceptor())
    if observe_latency is not None:
        interceptors.append(LatencyInterceptor(observe_latency))
    return PriceServers(
        pricing.pricer,
        pricing.quotes,
        GrpcServerSettings(
            host=p.host, price_port=p.price_port, quote_port=p.quote_port, reuse_port=p.reuse_port
        ),
        tuple(interceptors),
    )

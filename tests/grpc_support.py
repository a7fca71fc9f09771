"""Books as files, and the price and quote servers on free ports with real grpcio channels."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.feeds.book_file import FileBookProvider
from pegkeeper.api.grpc.pb import price_grpc, quotes_grpc
from pegkeeper.api.grpc.server import GrpcServerSettings, PriceServers
from pegkeeper.domain.quote_math import FeeRates
from pegkeeper.ports import BookProvider
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.market.pricer import Pricer, PricerSettings
from pegkeeper.services.market.wallet_quotes import QuoteService
from tests.fakes import FakeStore

START_MS = 1_700_000_000_000
DEEP = "1000000000"  # contracts: 10^13 cents, deeper than any amount the tests ask for
# The spec's worked example: one bid level at 1 000 USD/BTC, one ask level at 10 000 USD/BTC.
WORKED_BIDS = (("1000", DEEP),)
WORKED_ASKS = (("10000", DEEP),)


def write_book(
    path: Path,
    bids: Sequence[tuple[str, str]],
    asks: Sequence[tuple[str, str]],
    ts_ms: int = 1_666_759_645_503,
    inst_id: str = "BTC-USD-SWAP",
) -> Path:
    """An OKX `books` snapshot message, checksum 0 (not checked)."""
    message = {
        "arg": {"channel": "books", "instId": inst_id},
        "action": "snapshot",
        "data": [
            {
                "bids": [[px, sz, "0", "1"] for px, sz in bids],
                "asks": [[px, sz, "0", "1"] for px, sz in asks],
                "ts": str(ts_ms),
                "checksum": 0,
            }
        ],
    }
    path.write_text(json.dumps(message))
    return path


@dataclass
class Stack:
    clock: ManualClock
    bus: MemoryBus
    liability: LiabilityService
    pricer: Pricer
    quotes: QuoteService
    servers: PriceServers
    price_channel: grpc.aio.Channel
    quote_channel: grpc.aio.Channel
    price: price_grpc.PriceServiceStub
    quote: quotes_grpc.QuoteServiceStub


@asynccontextmanager
async def serving(
    books: BookProvider,
    *,
    store: Any = None,
    stale_after_ms: int | None = None,
    fees: FeeRates | None = None,
    max_abs_delta_cents: int = 10**12,
    interceptors: tuple[grpc.aio.ServerInterceptor, ...] = (),
) -> AsyncIterator[Stack]:
    """Both servers on free ports; the ledger and quotes in `store` (default: in memory)."""
    clock = ManualClock(START_MS)
    bus = MemoryBus()
    store = store if store is not None else FakeStore()
    liability = LiabilityService(
        store.liability, bus, clock, max_abs_delta_cents=max_abs_delta_cents
    )
    pricer = Pricer(
        books, clock, PricerSettings(stale_after_ms=stale_after_ms, fees=fees or FeeRates()), "test"
    )
    quotes = QuoteService(pricer, store.quotes, liability, clock)
    servers = PriceServers(
        pricer,
        quotes,
        GrpcServerSettings(price_port=0, quote_port=0, health_interval_seconds=0.05),
        interceptors,
    )
    await servers.start()
    price_channel = grpc.aio.insecure_channel(f"127.0.0.1:{servers.price_port}")
    quote_channel = grpc.aio.insecure_channel(f"127.0.0.1:{servers.quote_port}")
    try:
        yield Stack(
            clock,
            bus,
            liability,
            pricer,
            quotes,
            servers,
            price_channel,
            quote_channel,
            price_grpc.PriceServiceStub(price_channel),
            quotes_grpc.QuoteServiceStub(quote_channel),
        )
    finally:
        await price_channel.close()
        await quote_channel.close()
        await servers.stop(0)


def file_books(
    tmp_path: Path,
    bids: Sequence[tuple[str, str]] = WORKED_BIDS,
    asks: Sequence[tuple[str, str]] = WORKED_ASKS,
) -> FileBookProvider:
    return FileBookProvider(write_book(tmp_path / "book.json", bids, asks))

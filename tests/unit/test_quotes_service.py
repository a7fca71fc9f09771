"""The quote service with fakes: pricing, storing, accepting, and what is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.errors import ConflictError, InvalidInput
from pegkeeper.domain.events import LiabilityChanged, decode_event
from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.domain.quote_math import Direction
from pegkeeper.domain.quotes import QuoteNotAcceptable, QuoteNotFound, QuoteState
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.market.pricer import BookUnavailable, Pricer, PricerSettings
from pegkeeper.services.market.wallet_quotes import QuoteService
from tests.fakes import FakeStore

NOW_MS = 1_700_000_000_500
BOOK = BookSnapshot.from_levels(
    "file", "BTC-USD-SWAP", 0, 0, (("1000", "1000000"),), (("10000", "1000000"),)
)


class Books:
    snapshot: BookSnapshot | None = BOOK

    def latest(self, inst_id: str) -> BookSnapshot | None:
        return self.snapshot

    def health(self) -> dict[str, str]:
        return {}


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW_MS)


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def books() -> Books:
    return Books()


@pytest.fixture
def service(store: FakeStore, clock: ManualClock, bus: MemoryBus, books: Books) -> QuoteService:
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10_000_000)
    pricer = Pricer(books, clock, PricerSettings(stale_after_ms=None), "test book")
    return QuoteService(pricer, store.quotes, liability, clock, expiration_ms=60_000)


async def test_a_quote_is_priced_stored_and_open(service: QuoteService, store: FakeStore) -> None:
    quote = await service.quote(Direction.BUY, sats=12_345_678)
    # floor(12 345.678 * 0.9988) with the delayed rate
    assert (quote.amount_sats, quote.amount_cents, quote.fee_rate) == (
        12_345_678,
        12_330,
        Decimal("0.0012"),
    )
    assert quote.fee_cents == Decimal("15.678000")  # 12 345.678 cents of value, 12 330 given
    assert (quote.created_at_ms, quote.expires_at_ms, quote.expires_at_s) == (
        NOW_MS,
        NOW_MS + 60_000,
        1_700_000_060,
    )
    assert (quote.state, quote.executed, quote.book_source) == (QuoteState.OPEN, False, "file")
    assert await service.get(quote.quote_id) == quote
    assert store.quotes.history == [(quote.quote_id, "created", NOW_MS)]
    assert store.liability.events == []


async def test_accepting_moves_the_liability_and_tells_the_hedger(
    service: QuoteService, store: FakeStore, bus: MemoryBus, clock: ManualClock
) -> None:
    subscription = bus.subscribe("liability")
    quote = await service.quote(Direction.BUY, cents=50_000)
    clock.advance(59.999)

    accepted = await service.accept(quote.quote_id.upper())

    assert accepted.state is QuoteState.ACCEPTED and accepted.accepted_at_ms == NOW_MS + 59_999
    (event,) = store.liability.events
    assert (event.event_id, event.delta_cents, event.source) == (quote.quote_id, 50_000, "quote")
    assert "buys 50000 cents for 50060000 sats" in event.memo
    message = decode_event(subscription.queue.get_nowait()[1])
    assert isinstance(message, LiabilityChanged) and message.event_id == quote.quote_id


async def test_accepting_twice_expired_unknown_or_malformed_is_refused(
    service: QuoteService, store: FakeStore, clock: ManualClock
) -> None:
    once = await service.quote(Direction.BUY, cents=100)
    await service.accept(once.quote_id)
    with pytest.raises(QuoteNotAcceptable, match="already accepted"):
        await service.accept(once.quote_id)

    late = await service.quote(Direction.BUY, cents=100)
    clock.advance(60)
    with pytest.raises(QuoteNotAcceptable, match=r"expired at 1700000060 \(unix seconds\), 0\.0 s"):
        await service.accept(late.quote_id)
    with pytest.raises(QuoteNotFound):
        await service.accept("12345678-1234-1234-1234-123456789abc")
    with pytest.raises(InvalidInput, match="UUID"):
        await service.accept("x" * 500)
    assert [e.event_id for e in store.liability.events] == [once.quote_id]


async def test_immediate_execution_accepts_at_once(service: QuoteService, store: FakeStore) -> None:
    bought = await service.quote(Direction.BUY, cents=10_000, immediate=True)
    assert bought.executed and bought.amount_sats == 10_010_000  # ceil(10^7 * 1.001)
    sold = await service.quote(Direction.SELL, sats=100_050, immediate=True)
    assert sold.amount_cents == 1_002  # ceil(1 000.5 * 1.001) = ceil(1 001.5005)
    assert [e.delta_cents for e in store.liability.events] == [10_000, -1_002]
    assert store.quotes.history[-2:] == [
        (sold.quote_id, "created", NOW_MS),
        (sold.quote_id, "accepted", NOW_MS),
    ]


async def test_refused_sales_write_nothing(service: QuoteService, store: FakeStore) -> None:
    with pytest.raises(ConflictError, match="negative"):
        await service.quote(Direction.SELL, cents=1, immediate=True)
    assert store.quotes.quotes == {}

    open_quote = await service.quote(Direction.SELL, cents=1)
    with pytest.raises(ConflictError, match="negative"):
        await service.accept(open_quote.quote_id)
    assert store.quotes.quotes[open_quote.quote_id].state is QuoteState.OPEN
    assert store.liability.events == []


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({}, "exactly one amount"),
        ({"sats": 1, "cents": 1}, "exactly one amount"),
        ({"sats": 0}, "got 0"),
        ({"cents": -5}, "got -5"),
        ({"sats": 100}, "too small to quote"),
        ({"cents": 10_000_001}, "max_abs_delta_cents"),
    ],
)
async def test_bad_amounts(service: QuoteService, kwargs: dict[str, int], says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        await service.quote(Direction.BUY, **kwargs)


async def test_no_quote_without_a_book(service: QuoteService, books: Books) -> None:
    books.snapshot = None
    with pytest.raises(BookUnavailable):
        await service.quote(Direction.BUY, sats=10**8)

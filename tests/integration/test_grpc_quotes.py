"""The QuoteService through a real grpcio channel, quotes stored on SQLite and PostgreSQL.

The book is the spec's worked example: bids at 1 000 USD/BTC (0.001 cents per sat), asks at
10 000 USD/BTC (0.01 cents per sat). Quotes without immediate execution use the delayed rate
(0.0012), with it the immediate rate (0.0010).
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path

import grpc
import pytest

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.api.grpc.pb import quotes_pb2 as pb
from pegkeeper.domain.events import LiabilityChanged, decode_event
from pegkeeper.domain.quote_math import Direction
from pegkeeper.domain.quotes import QuoteState
from tests.fakes import FakeQuoteRepository, FakeStore
from tests.grpc_support import START_MS, Stack, file_books, serving

EXPIRES_AT = (START_MS + 120_000) // 1000


async def refused(call: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    assert raised.value.code() is code, raised.value.details()
    return str(raised.value.details())


async def ledger(store: SqlStore) -> list[tuple[str, int, int]]:
    events = await store.liability.recent(100)
    return [(e.event_id, e.delta_cents, e.balance_after_cents) for e in reversed(events)]


async def test_a_quote_is_stored_with_its_event_and_accepting_it_moves_the_liability(
    store: SqlStore, tmp_path: Path
) -> None:
    async with serving(file_books(tmp_path), store=store) as stack:
        subscription = stack.bus.subscribe("liability")
        quote = await stack.quote.GetQuoteToBuyUsd(
            pb.GetQuoteToBuyUsdRequest(amount_to_sell_in_sats=10**8)
        )
        # floor(100 000 cents * (1 - 0.0012)); delayed, as immediate_execution is false
        assert (quote.amount_to_sell_in_sats, quote.amount_to_buy_in_cents) == (10**8, 99_880)
        assert (quote.expires_at, quote.executed) == (EXPIRES_AT, False)
        assert str(uuid.UUID(quote.quote_id)) == quote.quote_id

        stored = await store.quotes.get(quote.quote_id)
        assert stored is not None
        assert (stored.direction, stored.state, stored.immediate_execution) == (
            Direction.BUY,
            QuoteState.OPEN,
            False,
        )
        assert (stored.amount_sats, stored.amount_cents, stored.fee_rate) == (
            10**8,
            99_880,
            Decimal("0.0012"),
        )
        assert stored.fee_cents == Decimal("120.000000")  # 100 000 cents of value, 99 880 given
        assert stored.expires_at_ms == START_MS + 120_000
        assert await store.quotes.events(quote.quote_id) == [("created", START_MS)]
        assert await ledger(store) == []

        stack.clock.advance(10)
        await stack.quote.AcceptQuote(pb.AcceptQuoteRequest(quote_id=quote.quote_id))

        assert await ledger(store) == [(quote.quote_id, 99_880, 99_880)]
        assert await store.quotes.events(quote.quote_id) == [
            ("created", START_MS),
            ("accepted", START_MS + 10_000),
        ]
        accepted = await store.quotes.get(quote.quote_id)
        assert accepted is not None and accepted.state is QuoteState.ACCEPTED
        _, payload = await asyncio.wait_for(anext(aiter(subscription)), 1)
        event = decode_event(payload)
        assert isinstance(event, LiabilityChanged) and event.event_id == quote.quote_id


async def test_accepting_twice_or_after_expiry_changes_nothing(
    store: SqlStore, tmp_path: Path
) -> None:
    async with serving(file_books(tmp_path), store=store) as stack:
        first = await buy_cents(stack, 1_000)
        # ceil(1 000 / 0.001 * 1.0012) sats
        assert first.amount_to_sell_in_sats == 1_001_200
        await stack.quote.AcceptQuote(pb.AcceptQuoteRequest(quote_id=first.quote_id))
        again = stack.quote.AcceptQuote(pb.AcceptQuoteRequest(quote_id=first.quote_id))
        assert "already accepted" in await refused(again, grpc.StatusCode.FAILED_PRECONDITION)

        late = await buy_cents(stack, 2_000)
        stack.clock.advance(120)
        expired = stack.quote.AcceptQuote(pb.AcceptQuoteRequest(quote_id=late.quote_id))
        assert "expired" in await refused(expired, grpc.StatusCode.FAILED_PRECONDITION)

        assert await ledger(store) == [(first.quote_id, 1_000, 1_000)]
        assert await store.quotes.events(first.quote_id) == [
            ("created", START_MS),
            ("accepted", START_MS),
        ]
        assert await store.quotes.events(late.quote_id) == [("created", START_MS)]


async def buy_cents(stack: Stack, cents: int) -> pb.GetQuoteToBuyUsdResponse:
    return await stack.quote.GetQuoteToBuyUsd(
        pb.GetQuoteToBuyUsdRequest(amount_to_buy_in_cents=cents)
    )


async def test_immediate_execution_and_selling_usd(store: SqlStore, tmp_path: Path) -> None:
    async with serving(file_books(tmp_path), store=store) as stack:
        bought = await stack.quote.GetQuoteToBuyUsd(
            pb.GetQuoteToBuyUsdRequest(amount_to_buy_in_cents=100_000, immediate_execution=True)
        )
        # ceil(100 000 / 0.001 * 1.0010) sats; accepted in the transaction that created it
        assert (bought.amount_to_sell_in_sats, bought.executed) == (100_100_000, True)
        sold = await stack.quote.GetQuoteToSellUsd(
            pb.GetQuoteToSellUsdRequest(amount_to_sell_in_cents=40_000, immediate_execution=True)
        )
        # floor(40 000 / 0.01 * 0.9990) sats for the 40 000 cents the user sells
        assert (sold.amount_to_buy_in_sats, sold.amount_to_sell_in_cents) == (3_996_000, 40_000)
        later = await stack.quote.GetQuoteToSellUsd(
            pb.GetQuoteToSellUsdRequest(amount_to_buy_in_sats=1_000_000)
        )
        # ceil(1 000 000 * 0.01 * 1.0012) cents the user gives for 1 000 000 sats
        assert (later.amount_to_sell_in_cents, later.executed) == (10_012, False)
        await stack.quote.AcceptQuote(pb.AcceptQuoteRequest(quote_id=later.quote_id))

        assert await ledger(store) == [
            (bought.quote_id, 100_000, 100_000),
            (sold.quote_id, -40_000, 60_000),
            (later.quote_id, -10_012, 49_988),
        ]
        assert await store.quotes.events(sold.quote_id) == [
            ("created", START_MS),
            ("accepted", START_MS),
        ]


async def test_a_sale_beyond_the_liability_is_refused_and_nothing_is_written(
    store: SqlStore, tmp_path: Path
) -> None:
    async with serving(file_books(tmp_path), store=store) as stack:
        now = stack.quote.GetQuoteToSellUsd(
            pb.GetQuoteToSellUsdRequest(amount_to_sell_in_cents=500, immediate_execution=True)
        )
        assert "negative" in await refused(now, grpc.StatusCode.FAILED_PRECONDITION)
        later = await stack.quote.GetQuoteToSellUsd(
            pb.GetQuoteToSellUsdRequest(amount_to_sell_in_cents=500)
        )
        accept = stack.quote.AcceptQuote(pb.AcceptQuoteRequest(quote_id=later.quote_id))
        assert "negative" in await refused(accept, grpc.StatusCode.FAILED_PRECONDITION)

        assert await ledger(store) == []
        assert await store.quotes.events(later.quote_id) == [("created", START_MS)]
        kept = await store.quotes.get(later.quote_id)
        assert kept is not None and kept.state is QuoteState.OPEN
        async with store.engine.connect() as conn:
            from sqlalchemy import func, select

            from pegkeeper.adapters.store.tables import quotes

            count = (await conn.execute(select(func.count()).select_from(quotes))).scalar_one()
        assert count == 1  # the refused immediate quote left no row


async def test_two_accepts_at_once_one_succeeds_one_liability_event(
    store: SqlStore, tmp_path: Path
) -> None:
    async with serving(file_books(tmp_path), store=store) as stack:
        quote = await buy_cents(stack, 5_000)
        request = pb.AcceptQuoteRequest(quote_id=quote.quote_id)
        results = await asyncio.gather(
            *(stack.quote.AcceptQuote(request) for _ in range(2)), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(failures) == 1 and len(results) == 2
        assert failures[0].code() is grpc.StatusCode.FAILED_PRECONDITION
        assert await ledger(store) == [(quote.quote_id, 5_000, 5_000)]


@pytest.mark.parametrize(
    ("quote_id", "code"),
    [
        ("", grpc.StatusCode.INVALID_ARGUMENT),
        ("not-a-uuid", grpc.StatusCode.INVALID_ARGUMENT),
        ("{12345678-1234-1234-1234-123456789abc}", grpc.StatusCode.INVALID_ARGUMENT),
        ("12345678-1234-1234-1234-123456789abc", grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_malformed_and_unknown_quote_ids(
    store: SqlStore, tmp_path: Path, quote_id: str, code: grpc.StatusCode
) -> None:
    async with serving(file_books(tmp_path), store=store) as stack:
        await refused(stack.quote.AcceptQuote(pb.AcceptQuoteRequest(quote_id=quote_id)), code)


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        (pb.GetQuoteToBuyUsdRequest(), "quote_for is not set"),
        (pb.GetQuoteToBuyUsdRequest(amount_to_sell_in_sats=0), "got 0"),
        (pb.GetQuoteToBuyUsdRequest(amount_to_sell_in_sats=999), "too small to quote"),
        (pb.GetQuoteToBuyUsdRequest(amount_to_buy_in_cents=2**64 - 1), "overflow uint64"),
        (pb.GetQuoteToSellUsdRequest(amount_to_sell_in_cents=0), "got 0"),
        (pb.GetQuoteToSellUsdRequest(amount_to_buy_in_sats=2**64 - 1), "too large to quote"),
        # 10^13 cents: beyond the largest single liability change
        (pb.GetQuoteToSellUsdRequest(amount_to_buy_in_sats=10**15), "max_abs_delta_cents"),
    ],
)
async def test_bad_amounts_are_invalid_argument(
    tmp_path: Path, request_: object, says: str
) -> None:
    async with serving(file_books(tmp_path), max_abs_delta_cents=100_000_000) as stack:
        rpc = type(request_).__name__.removesuffix("Request")
        details = await refused(
            getattr(stack.quote, rpc)(request_), grpc.StatusCode.INVALID_ARGUMENT
        )
    assert says in details


class BrokenQuotes(FakeQuoteRepository):
    async def get(self, quote_id: str) -> None:
        raise RuntimeError("the database went away")


async def test_a_store_failure_is_unavailable_and_can_be_retried(tmp_path: Path) -> None:
    store = FakeStore()
    store.quotes = BrokenQuotes(store.liability)
    async with serving(file_books(tmp_path), store=store) as stack:
        accept = stack.quote.AcceptQuote(
            pb.AcceptQuoteRequest(quote_id="12345678-1234-1234-1234-123456789abc")
        )
        details = await refused(accept, grpc.StatusCode.UNAVAILABLE)
    assert details == "temporarily unavailable (RuntimeError); the call can be retried"

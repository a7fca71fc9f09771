"""The quote repository against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest

from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.domain.errors import ConflictError
from pegkeeper.domain.liability import LedgerEntry, LiabilityChange
from pegkeeper.domain.quote_math import Direction
from pegkeeper.domain.quotes import Quote, QuoteNotAcceptable, QuoteNotFound, QuoteState

QUOTE_ID = "0b6c4f1e-8d2a-4c6e-9a51-3f0d2b7c9e10"


def quote(quote_id: str = QUOTE_ID, **overrides: object) -> Quote:
    base = Quote(
        quote_id=quote_id,
        direction=Direction.BUY,
        immediate_execution=False,
        amount_sats=123_456_789,
        amount_cents=2_500_000,
        fee_rate=Decimal("0.0012"),
        fee_cents=Decimal("3003.123456"),
        book_source="file",
        book_ts_ms=1_666_759_645_503,
        created_at_ms=1_000,
        expires_at_ms=121_000,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def entry(event_id: str = QUOTE_ID, delta_cents: int = 2_500_000) -> LedgerEntry:
    return LedgerEntry(LiabilityChange(event_id, delta_cents, "quote", "quote"), "corr", 5_000)


async def test_a_quote_round_trips_with_every_field_equal(store: SqlStore) -> None:
    stored = quote(amount_sats=2**63 - 1, fee_cents=Decimal("0.000001"))
    assert await store.quotes.create(stored) is None

    assert await store.quotes.get(QUOTE_ID) == stored
    assert await store.quotes.get("1b6c4f1e-8d2a-4c6e-9a51-3f0d2b7c9e10") is None
    assert await store.quotes.events(QUOTE_ID) == [("created", 1_000)]


async def test_accepting_appends_the_ledger_entry_in_the_same_transaction(
    store: SqlStore,
) -> None:
    await store.quotes.create(quote())

    accepted, event, created = await store.quotes.accept(QUOTE_ID, 2_000, entry())

    assert created and (event.event_id, event.delta_cents, event.seq) == (QUOTE_ID, 2_500_000, 1)
    assert accepted == quote(state=QuoteState.ACCEPTED, accepted_at_ms=2_000)
    assert await store.quotes.events(QUOTE_ID) == [("created", 1_000), ("accepted", 2_000)]
    with pytest.raises(QuoteNotAcceptable, match="already accepted"):
        await store.quotes.accept(QUOTE_ID, 3_000, entry())
    assert await store.liability.balance_cents() == 2_500_000


async def test_refusals_write_nothing(store: SqlStore) -> None:
    await store.quotes.create(quote(direction=Direction.SELL))
    with pytest.raises(ConflictError, match="negative"):
        await store.quotes.accept(QUOTE_ID, 2_000, entry(delta_cents=-2_500_000))
    with pytest.raises(QuoteNotAcceptable, match="expired"):
        await store.quotes.accept(QUOTE_ID, 121_000, entry())
    with pytest.raises(QuoteNotFound):
        await store.quotes.accept("1b6c4f1e-8d2a-4c6e-9a51-3f0d2b7c9e10", 2_000, entry())

    kept = await store.quotes.get(QUOTE_ID)
    assert kept is not None and kept.state is QuoteState.OPEN
    assert await store.quotes.events(QUOTE_ID) == [("created", 1_000)]
    assert await store.liability.recent(10) == []


async def test_an_immediate_quote_is_created_accepted_or_not_at_all(store: SqlStore) -> None:
    executed = quote(state=QuoteState.ACCEPTED, accepted_at_ms=1_000)
    event = await store.quotes.create(executed, entry())
    assert event is not None and event.balance_after_cents == 2_500_000
    assert await store.quotes.events(QUOTE_ID) == [("created", 1_000), ("accepted", 1_000)]

    other = "2b6c4f1e-8d2a-4c6e-9a51-3f0d2b7c9e10"
    refused = quote(other, direction=Direction.SELL, state=QuoteState.ACCEPTED)
    with pytest.raises(ConflictError, match="negative"):
        await store.quotes.create(refused, entry(other, -2_500_001))
    assert await store.quotes.get(other) is None
    assert await store.quotes.events(other) == []
    assert await store.liability.balance_cents() == 2_500_000


async def test_concurrent_accepts_from_two_stores_exactly_one_wins(database_url: str) -> None:
    # Two stores stand for two processes: no shared lock, only the database between them.
    stores = [await open_store(database_url), await open_store(database_url, migrate=False)]
    try:
        ids = [f"{i:08x}-8d2a-4c6e-9a51-3f0d2b7c9e10" for i in range(10)]
        for quote_id in ids:
            await stores[0].quotes.create(quote(quote_id))
        attempts = [
            stores[k].quotes.accept(quote_id, 2_000, entry(quote_id, 1_000 + i))
            for i, quote_id in enumerate(ids)
            for k in (0, 1, 0, 1)
        ]
        results = await asyncio.gather(*attempts, return_exceptions=True)

        wins = [r for r in results if not isinstance(r, BaseException)]
        losses = [r for r in results if isinstance(r, BaseException)]
        assert len(wins) == len(ids)
        assert all(isinstance(r, QuoteNotAcceptable) for r in losses), losses
        events = await stores[1].liability.recent(100)
        assert sorted(e.event_id for e in events) == sorted(ids)
        assert await stores[0].liability.balance_cents() == sum(1_000 + i for i in range(10))
    finally:
        for opened in stores:
            await opened.close()

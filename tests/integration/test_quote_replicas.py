"""Two quote servers as two replicas: each with its own store on one PostgreSQL database and
nothing else shared, through real grpcio channels. A quote one replica issued is accepted by
the other; accepts of one quote sent to both at once let exactly one through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import grpc
import pytest

from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.api.grpc.pb import quotes_pb2 as pb
from tests.grpc_support import Stack, file_books, serving
from tests.integration.conftest import postgres_database

pytestmark = pytest.mark.postgres


@asynccontextmanager
async def replicas(tmp_path: Path) -> AsyncIterator[tuple[list[Stack], SqlStore]]:
    async with postgres_database() as url, AsyncExitStack() as stack:
        stores = [await open_store(url), await open_store(url, migrate=False)]
        for store in stores:
            stack.push_async_callback(store.close)
        books = file_books(tmp_path)
        servers = [await stack.enter_async_context(serving(books, store=s)) for s in stores]
        yield servers, stores[0]


async def outcome(call: object) -> str:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return f"{error.code().name}: {error.details()}"
    return "OK"


async def test_a_quote_issued_by_one_replica_is_accepted_by_the_other(tmp_path: Path) -> None:
    async with replicas(tmp_path) as ((first, second), store):
        issued = [
            await first.quote.GetQuoteToBuyUsd(pb.GetQuoteToBuyUsdRequest(amount_to_buy_in_cents=c))
            for c in (1_000, 2_500, 40_000)
        ]
        for quote in issued:
            await second.quote.AcceptQuote(pb.AcceptQuoteRequest(quote_id=quote.quote_id))

        events = list(reversed(await store.liability.recent(10)))
    # a user buying USD adds its cents to the liability
    assert [(e.event_id, e.delta_cents) for e in events] == [
        (q.quote_id, q.amount_to_buy_in_cents) for q in issued
    ]
    assert events[-1].balance_after_cents == 1_000 + 2_500 + 40_000


async def test_accepts_sent_to_both_replicas_at_once_let_exactly_one_through(
    tmp_path: Path,
) -> None:
    async with replicas(tmp_path) as ((first, second), store):
        issued = [
            await first.quote.GetQuoteToBuyUsd(pb.GetQuoteToBuyUsdRequest(amount_to_buy_in_cents=c))
            for c in range(100, 1_100, 100)
        ]
        outcomes = await asyncio.gather(
            *(
                outcome(replica.quote.AcceptQuote(pb.AcceptQuoteRequest(quote_id=q.quote_id)))
                for q in issued
                for replica in (first, second)
            )
        )
        events = await store.liability.recent(100)

    for pair in zip(outcomes[::2], outcomes[1::2], strict=True):
        refusal, success = sorted(pair)  # "FAILED_PRECONDITION..." sorts before "OK"
        assert success == "OK", pair
        assert refusal.startswith("FAILED_PRECONDITION: ") and "already accepted" in refusal
    assert sorted(e.event_id for e in events) == sorted(q.quote_id for q in issued)
    assert events[0].balance_after_cents == sum(range(100, 1_100, 100))

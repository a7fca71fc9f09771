"""Broker orders, their reports and the allocations they make, on SQLite and PostgreSQL,
including two stores (two processes) racing on one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import select

from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.adapters.store.equity_tables import equity_broker_order_events as events
from pegkeeper.domain.equities.broker import BrokerOrderState, BrokerOrderType
from pegkeeper.domain.equities.ledger import Allocation, BrokerOrderRecord
from pegkeeper.domain.errors import ConflictError, InvalidInput, SlotTaken
from pegkeeper.domain.orders import OrderSide

from .equity_records import (
    D,
    block_ms,
    bought,
    execution,
    ingest,
    intent,
    report,
    sold,
)

BUY, SELL = OrderSide.BUY, OrderSide.SELL
CREATED = BrokerOrderState.CREATED
WORKING = BrokerOrderState.WORKING
FILLED = BrokerOrderState.FILLED
CANCELED = BrokerOrderState.CANCELED
FAILED = BrokerOrderState.FAILED
UNKNOWN = BrokerOrderState.UNKNOWN
LOST = BrokerOrderState.LOST


async def _events(store: SqlStore, client_order_id: str) -> list[tuple[str, str, str]]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(events.c.state, events.c.filled_quantity, events.c.message)
            .where(events.c.client_order_id == client_order_id)
            .order_by(events.c.id)
        )
        return [(state, str(filled), message) for state, filled, message in rows]


# --- the open slot --------------------------------------------------------------------------


async def test_an_order_holds_its_symbols_slot_until_it_is_final(store: SqlStore) -> None:
    repo = store.equities
    first = intent("o1", BUY, "1.5")
    await repo.open_broker_order(first, "exposure -1.5")

    record = BrokerOrderRecord(first, CREATED, D("0"), "", "", first.created_at_ms)
    assert await repo.broker_order("o1") == record
    assert await repo.open_broker_orders() == [record]
    assert (await repo.exposures())["AAPL"].in_flight == record

    with pytest.raises(SlotTaken, match="AAPL is not final yet: o2 is not recorded"):
        await repo.open_broker_order(intent("o2", SELL, "1"), "exposure +1")
    assert await repo.broker_order("o2") is None
    await repo.open_broker_order(intent("m1", SELL, "2", symbol="MSFT"), "exposure +2")

    await repo.record_broker_state("o1", FAILED, "insufficient buying power", 7)
    await repo.open_broker_order(intent("o2", SELL, "1"), "exposure +1")

    assert [r.intent.client_order_id for r in await repo.open_broker_orders()] == ["m1", "o2"]
    with pytest.raises(ConflictError, match="'o1' is already recorded"):
        await repo.open_broker_order(intent("o1", BUY, "1", symbol="TSLA"), "again")
    assert "TSLA" not in await repo.exposures()


async def test_an_order_keeps_every_field_of_its_intent(store: SqlStore) -> None:
    repo = store.equities
    limit = replace(
        intent("l1", SELL, "0.123456789"),
        order_type=BrokerOrderType.LIMIT,
        limit_price_usd=D("187.25"),
        extended_hours=True,
    )
    await repo.open_broker_order(limit, "after hours")

    stored = await repo.broker_order("l1")
    assert stored is not None and stored.intent == limit


async def test_bad_intents_are_refused_with_what_was_wrong(store: SqlStore) -> None:
    repo = store.equities
    with pytest.raises(InvalidInput, match="quantity 0: expected a number > 0"):
        await repo.open_broker_order(intent("o1", BUY, "0"), "r")
    no_price = replace(intent("o1", BUY, "1"), order_type=BrokerOrderType.LIMIT)
    with pytest.raises(InvalidInput, match="a limit order needs limit_price_usd"):
        await repo.open_broker_order(no_price, "r")
    with pytest.raises(InvalidInput, match="symbol '': expected 1 to 64 characters"):
        await repo.open_broker_order(intent("o1", BUY, "1", symbol=""), "r")
    assert await repo.open_broker_orders() == []


# --- reports and allocations ----------------------------------------------------------------


async def test_broker_fills_cover_onchain_fills_oldest_first_and_once(store: SqlStore) -> None:
    repo = store.equities
    first, second = sold(10, 0, "0.3", "45"), sold(11, 0, "0.4", "60.4")
    await ingest(repo, 11, first, second)
    await repo.open_broker_order(intent("o1", BUY, "0.7"), "exposure -0.7")

    partial = report("o1", WORKING, execution("e1", "0.5", "150.5", block_ms(12)))
    assert await repo.record_broker_report(partial, 20) == [
        Allocation("o1", "e1", first.fill_id, D("0.3")),
        Allocation("o1", "e1", second.fill_id, D("0.2")),
    ]
    exposure = (await repo.exposures())["AAPL"]
    assert (exposure.onchain_net, exposure.broker_net) == (D("-0.7"), D("0.5"))
    assert exposure.exposure == D("-0.2")
    assert exposure.oldest_open_ms == block_ms(11)  # the first is fully covered
    assert exposure.in_flight is not None
    assert (exposure.in_flight.state, exposure.in_flight.filled_quantity) == (WORKING, D("0.5"))

    done = report("o1", FILLED, *partial.fills, execution("e2", "0.2", "151", block_ms(13)))
    assert await repo.record_broker_report(done, 30) == [
        Allocation("o1", "e2", second.fill_id, D("0.2"))
    ]
    assert await repo.record_broker_report(done, 40) == []  # the same report again

    exposure = (await repo.exposures())["AAPL"]
    assert (exposure.exposure, exposure.in_flight, exposure.oldest_open_ms) == (D("0"), None, None)
    assert await repo.open_broker_orders() == []
    stored = await repo.broker_order("o1")
    assert stored is not None
    assert (stored.state, stored.filled_quantity, stored.broker_order_id) == (
        FILLED,
        D("0.7"),
        "b-o1",
    )
    assert stored.updated_at_ms == 30
    assert await _events(store, "o1") == [
        ("created", "0", ""),
        ("working", "0.5", ""),
        ("filled", "0.7", ""),
    ]


async def test_a_fill_covers_only_its_symbols_fills_of_the_opposite_sign(store: SqlStore) -> None:
    repo = store.equities
    aapl_sold = sold(10, 0, "1", "150")
    aapl_bought = bought(11, 0, "0.4", "60")
    msft_sold = sold(11, 1, "2", "800", symbol="MSFT")
    await ingest(repo, 11, aapl_sold, aapl_bought, msft_sold)
    await repo.open_broker_order(intent("o1", BUY, "0.6"), "exposure -0.6")

    allocations = await repo.record_broker_report(
        report("o1", FILLED, execution("e1", "0.6", "150", block_ms(12))), 20
    )

    assert allocations == [Allocation("o1", "e1", aapl_sold.fill_id, D("0.6"))]
    books = await repo.exposures()
    assert (books["AAPL"].onchain_net, books["AAPL"].exposure) == (D("-0.6"), D("0"))
    # 0.4 of the sale and the purchase stay open, but they net to nothing: no exposure waits
    assert books["AAPL"].oldest_open_ms is None
    assert (books["MSFT"].exposure, books["MSFT"].oldest_open_ms) == (D("-2"), block_ms(11))


async def test_an_over_fill_stays_a_remainder_that_covers_the_next_onchain_fills(
    store: SqlStore,
) -> None:
    repo = store.equities
    first = sold(10, 0, "1", "150")
    await ingest(repo, 10, first)
    await repo.open_broker_order(intent("o1", BUY, "1"), "exposure -1")
    over = report("o1", FILLED, execution("e1", "1.5", "149", block_ms(11)))
    assert await repo.record_broker_report(over, 20) == [
        Allocation("o1", "e1", first.fill_id, D("1"))
    ]
    assert (await repo.exposures())["AAPL"].exposure == D("0.5")

    small, larger = sold(12, 0, "0.2", "30"), sold(13, 0, "0.5", "75")
    assert await ingest(repo, 13, small, larger) == [small, larger]

    snapshot = await repo.ledger_snapshot()
    assert snapshot.allocations[1:] == (
        Allocation("o1", "e1", small.fill_id, D("0.2")),
        Allocation("o1", "e1", larger.fill_id, D("0.3")),
    )
    exposure = (await repo.exposures())["AAPL"]
    assert exposure.exposure == D("-0.2")  # -1.7 onchain + 1.5 at the broker
    assert exposure.oldest_open_ms == block_ms(13)

    # a purchase has the remainder's sign: nothing covers it
    await ingest(repo, 14, bought(14, 0, "0.4", "60"))
    assert len((await repo.ledger_snapshot()).allocations) == 3
    assert (await repo.exposures())["AAPL"].exposure == D("0.2")


async def test_a_canceled_order_with_a_partial_fill_frees_the_slot(store: SqlStore) -> None:
    repo = store.equities
    fill = bought(10, 0, "1", "150")
    await ingest(repo, 10, fill)
    await repo.open_broker_order(intent("o1", SELL, "1"), "exposure +1")

    canceled = report("o1", CANCELED, execution("e1", "0.3", "151", block_ms(11), fee="0.01"))
    assert await repo.record_broker_report(canceled, 20) == [
        Allocation("o1", "e1", fill.fill_id, D("0.3"))
    ]

    exposure = (await repo.exposures())["AAPL"]
    assert (exposure.broker_net, exposure.exposure, exposure.in_flight) == (
        D("-0.3"),
        D("0.7"),
        None,
    )
    await repo.open_broker_order(intent("o2", SELL, "0.7"), "exposure +0.7")


async def test_a_final_order_is_never_reopened_but_takes_late_fills(store: SqlStore) -> None:
    repo = store.equities
    await ingest(repo, 10, sold(10, 0, "1", "150"))
    await repo.open_broker_order(intent("o1", BUY, "1"), "exposure -1")
    e1 = execution("e1", "1", "150", block_ms(11))
    await repo.record_broker_report(report("o1", FILLED, e1, message="done"), 20)

    late = execution("e2", "0.1", "150.2", block_ms(12))
    stale = report("o1", WORKING, e1, late, message="working")
    assert await repo.record_broker_report(stale, 30) == []

    stored = await repo.broker_order("o1")
    assert stored is not None
    assert (stored.state, stored.filled_quantity, stored.message) == (FILLED, D("1.1"), "done")
    assert await repo.open_broker_orders() == []
    assert (await repo.exposures())["AAPL"].exposure == D("0.1")
    await repo.open_broker_order(intent("o2", SELL, "0.1"), "exposure +0.1")
    assert [s for s, _, _ in await _events(store, "o1")] == ["created", "filled", "filled"]


async def test_states_without_a_report_are_appended_once_and_final_ones_stay(
    store: SqlStore,
) -> None:
    repo = store.equities
    await repo.open_broker_order(intent("o1", BUY, "1"), "exposure -1")

    await repo.record_broker_state("o1", UNKNOWN, "timeout", 10)
    await repo.record_broker_state("o1", UNKNOWN, "timeout", 11)
    assert [r.state for r in await repo.open_broker_orders()] == [UNKNOWN]
    await repo.record_broker_state("o1", LOST, "not found after 60 s", 12)
    await repo.record_broker_state("o1", WORKING, "stale", 13)

    stored = await repo.broker_order("o1")
    assert stored is not None
    assert (stored.state, stored.message, stored.updated_at_ms) == (
        LOST,
        "not found after 60 s",
        12,
    )
    assert await repo.open_broker_orders() == []
    assert await _events(store, "o1") == [
        ("created", "0", ""),
        ("unknown", "0", "timeout"),
        ("lost", "0", "not found after 60 s"),
    ]
    # found after all: one final state gives way to the broker's
    await repo.record_broker_report(report("o1", FILLED, execution("e1", "1", "150", 1)), 14)
    assert (await repo.broker_order("o1") or stored).state is FILLED
    assert await repo.open_broker_orders() == []

    with pytest.raises(InvalidInput, match="unknown broker order 'o9'"):
        await repo.record_broker_state("o9", FAILED, "", 15)


async def test_bad_reports_are_refused_and_write_nothing(store: SqlStore) -> None:
    repo = store.equities
    await repo.open_broker_order(intent("o1", BUY, "1"), "r")
    bad = report("o1", FILLED, execution("e1", "1", "150", 1), execution("e2", "-1", "150", 2))
    with pytest.raises(InvalidInput, match="fill e2: quantity -1: expected a number > 0"):
        await repo.record_broker_report(bad, 10)
    with pytest.raises(InvalidInput, match="unknown broker order 'o9'"):
        await repo.record_broker_report(report("o9", FILLED), 10)
    assert [r.state for r in await repo.open_broker_orders()] == [CREATED]


# --- two stores on one database ---------------------------------------------------------------


@pytest.fixture
async def two_stores(database_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    first = await open_store(database_url)
    second = await open_store(database_url, migrate=False)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_two_stores_racing_for_one_slot_open_one_order(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    a, b = (s.equities for s in two_stores)
    for round_ in range(6):
        symbol = f"S{round_}"
        outcomes = await asyncio.gather(
            a.open_broker_order(intent(f"a{round_}", BUY, "1", symbol=symbol), "r"),
            b.open_broker_order(intent(f"b{round_}", BUY, "1", symbol=symbol), "r"),
            return_exceptions=True,
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "SlotTaken"]
    opened = await b.open_broker_orders()
    assert sorted(r.intent.symbol for r in opened) == [f"S{n}" for n in range(6)]


async def test_two_stores_recording_the_same_report_allocate_once(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    a, b = (s.equities for s in two_stores)
    first, second = sold(10, 0, "1", "150"), sold(11, 0, "1", "151")
    await ingest(a, 11, first, second)
    await a.open_broker_order(intent("o1", BUY, "2"), "exposure -2")
    done = report(
        "o1",
        FILLED,
        execution("e1", "1.5", "150", block_ms(12)),
        execution("e2", "0.5", "150", block_ms(13)),
    )

    outcomes = await asyncio.gather(
        a.record_broker_report(done, 20), b.record_broker_report(done, 21)
    )

    expected = [
        Allocation("o1", "e1", first.fill_id, D("1")),
        Allocation("o1", "e1", second.fill_id, D("0.5")),
        Allocation("o1", "e2", second.fill_id, D("0.5")),
    ]
    assert sorted(outcomes, key=len) == [[], expected]
    assert list((await b.ledger_snapshot()).allocations) == expected
    assert [s for s, _, _ in await _events(two_stores[0], "o1")] == ["created", "filled"]
    assert (await a.exposures())["AAPL"].exposure == 0


async def test_a_report_racing_a_new_onchain_fill_never_covers_a_share_twice(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    a, b = (s.equities for s in two_stores)
    for round_ in range(4):
        symbol, base = f"S{round_}", 10 * round_ + 10
        first = sold(base, 0, "1", "150", symbol=symbol)
        later = sold(base + 1, 0, "1", "150", symbol=symbol)
        await ingest(a, base, first)
        client_order_id = f"o{round_}"
        await a.open_broker_order(intent(client_order_id, BUY, "2", symbol=symbol), "r")
        over = report(client_order_id, FILLED, execution("e1", "2", "150", block_ms(base + 1)))

        await asyncio.gather(a.record_broker_report(over, 1), ingest(b, base + 1, later))

        mine = [
            x
            for x in (await a.ledger_snapshot()).allocations
            if x.client_order_id == client_order_id
        ]
        assert sorted((x.onchain_fill_id, x.shares) for x in mine) == sorted(
            [(first.fill_id, D("1")), (later.fill_id, D("1"))]
        )
        assert (await b.exposures())[symbol].exposure == 0

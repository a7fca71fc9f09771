"""The SQL store against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Connection, inspect, select, text

from pegkeeper.adapters.store.database import (
    SqlStore,
    alembic_config,
    normalize_url,
    open_store,
    run_migrations,
)
from pegkeeper.adapters.store.ledger_tables import LEDGER_TABLES
from pegkeeper.adapters.store.tables import ALL_TABLES, metadata, order_events
from pegkeeper.domain.errors import ConflictError, SlotTaken
from pegkeeper.domain.liability import LiabilityChange
from pegkeeper.domain.orders import Fill, OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.domain.records import DecisionRecord, PositionSnapshot

EXACT = Decimal("12345.678901234567")
ONE_SAT = Decimal("0.00000001")


def change(event_id: str, delta_cents: int) -> LiabilityChange:
    return LiabilityChange(event_id=event_id, delta_cents=delta_cents, memo="m", source="test")


def intent(client_order_id: str, created_at_ms: int = 1_000, **overrides: Any) -> OrderIntent:
    base = OrderIntent(
        client_order_id=client_order_id,
        instrument_id="BTC-USD-SWAP",
        kind=OrderKind.MARKET,
        side=OrderSide.SELL,
        size_contracts=Decimal("3"),
        decision_id=f"d-{client_order_id}",
        correlation_id=f"c-{client_order_id}",
        created_at_ms=created_at_ms,
    )
    return replace(base, **overrides)


def decision(decision_id: str, **overrides: Any) -> DecisionRecord:
    base = DecisionRecord(
        decision_id=decision_id,
        correlation_id=f"c-{decision_id}",
        created_at_ms=1_700_000_000_123,
        trigger="liability",
        policy="stablesats",
        rule="exposure above the high bound: sell to the target",
        action="sell",
        size_contracts=Decimal("42"),
        instrument_id="BTC-USD-SWAP",
        liability_cents=1_234_567_890_123,
        exposure_cents=-987_654_321,
        position_contracts=Decimal("-1234.5"),
        hedge_ratio=EXACT,
        btc_price_usd=Decimal("67890.12345678"),
    )
    return replace(base, **overrides)


def snapshot(created_at_ms: int, **overrides: Any) -> PositionSnapshot:
    base = PositionSnapshot(
        created_at_ms=created_at_ms,
        correlation_id=f"c-{created_at_ms}",
        instrument_id="BTC-USD-SWAP",
        size_contracts=Decimal("-1234"),
        avg_price_usd=Decimal("67000.1"),
        mark_price_usd=EXACT,
        exposure_cents=123_400,
        liquidation_price_usd=Decimal("250000.5"),
        collateral=Decimal("0.12345678"),
        collateral_available=ONE_SAT,
        funding_balance=Decimal("21000000.00000000"),
        leverage=Decimal("1.85"),
    )
    return replace(base, **overrides)


def fill(fill_id: str, ts_ms: int = 2_000) -> Fill:
    return Fill(fill_id, "o1", Decimal("1"), EXACT, ONE_SAT, "BTC", ts_ms)


def assert_exact(actual: Decimal | None, expected: Decimal | None) -> None:
    assert actual == expected
    if expected is not None:
        assert actual is not None
        assert actual.as_tuple() == expected.as_tuple()


def schema_differences(conn: Connection) -> list[object]:
    """What differs between the migrated database and tables.py, check constraints included."""
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    differences: list[object] = list(compare_metadata(context, metadata))
    inspector = inspect(conn)
    for table in (*ALL_TABLES, *LEDGER_TABLES):
        expected = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        found = {c["name"] for c in inspector.get_check_constraints(table.name)}
        if found != expected:
            differences.append((table.name, "check constraints", found, expected))
    return differences


# --- migrations ---------------------------------------------------------------------------


async def test_migrations_create_every_table_and_running_them_again_changes_nothing(
    store: SqlStore,
) -> None:
    await store.liability.append(change("e1", 500), "corr", 1)

    async with store.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        expected = {t.name for t in (*ALL_TABLES, *LEDGER_TABLES)}
        assert expected | {"alembic_version"} <= tables
        assert await conn.run_sync(schema_differences) == []

    await run_migrations(store.engine)
    await run_migrations(store.engine)

    async with store.engine.connect() as conn:
        versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert [v for (v,) in versions] == [head] and head is not None
    assert await store.liability.balance_cents() == 500
    assert [e.event_id for e in await store.liability.recent(10)] == ["e1"]


async def test_stores_opened_at_once_migrate_once_and_reopening_keeps_the_data(
    database_url: str,
) -> None:
    stores = await asyncio.gather(*(open_store(database_url) for _ in range(4)))
    await stores[0].liability.append(change("e1", 700), "corr", 1)
    for opened in stores:
        await opened.close()

    reopened = await open_store(database_url)
    try:
        assert await reopened.liability.balance_cents() == 700
    finally:
        await reopened.close()


# --- liability ----------------------------------------------------------------------------


async def test_empty_ledger(store: SqlStore) -> None:
    assert await store.liability.balance_cents() == 0
    assert await store.liability.recent(10) == []
    assert await store.liability.get("nope") is None


async def test_the_same_event_id_posted_twice_is_one_event(store: SqlStore) -> None:
    first, created = await store.liability.append(change("buy-1", 1_000), "c1", 10)
    assert created
    assert (first.seq, first.balance_after_cents, first.created_at_ms) == (1, 1_000, 10)

    again, created_again = await store.liability.append(change("buy-1", 1_000), "c2", 20)

    assert not created_again
    assert again == first
    assert await store.liability.balance_cents() == 1_000
    assert await store.liability.recent(10) == [first]
    assert await store.liability.get("buy-1") == first


async def test_the_same_event_id_with_another_amount_conflicts_and_writes_nothing(
    store: SqlStore,
) -> None:
    await store.liability.append(change("buy-1", 1_000), "c1", 10)

    with pytest.raises(ConflictError, match=r"buy-1.*1000.*1001"):
        await store.liability.append(change("buy-1", 1_001), "c2", 20)

    assert await store.liability.balance_cents() == 1_000
    assert len(await store.liability.recent(10)) == 1


async def test_a_change_below_zero_is_refused_and_writes_nothing(store: SqlStore) -> None:
    await store.liability.append(change("buy-1", 1_000), "c1", 10)

    with pytest.raises(ConflictError, match="negative"):
        await store.liability.append(change("sell-1", -1_001), "c2", 20)

    assert await store.liability.balance_cents() == 1_000
    assert await store.liability.get("sell-1") is None
    event, created = await store.liability.append(change("sell-2", -1_000), "c3", 30)
    assert created
    assert (event.seq, event.balance_after_cents) == (2, 0)


async def test_a_repeated_withdrawal_that_emptied_the_ledger_is_still_idempotent(
    store: SqlStore,
) -> None:
    await store.liability.append(change("buy-1", 1_000), "c1", 10)
    emptied, _ = await store.liability.append(change("sell-1", -1_000), "c2", 20)

    again, created = await store.liability.append(change("sell-1", -1_000), "c3", 30)

    assert (again, created) == (emptied, False)


async def test_concurrent_appends_get_consecutive_seqs_and_the_right_balance(
    store: SqlStore,
) -> None:
    deltas = [random.randint(1, 1_000_000) for _ in range(50)]

    results = await asyncio.gather(
        *(
            store.liability.append(change(f"e{i}", delta), f"c{i}", i)
            for i, delta in enumerate(deltas)
        )
    )

    assert all(created for _, created in results)
    events = sorted(await store.liability.recent(100), key=lambda e: e.seq)
    assert [e.seq for e in events] == list(range(1, 51))
    running = 0
    for event in events:
        running += event.delta_cents
        assert event.balance_after_cents == running
    assert await store.liability.balance_cents() == sum(deltas)


async def test_concurrent_appends_from_two_stores_on_one_database(database_url: str) -> None:
    # Two stores stand for two processes: no shared lock, only the database between them.
    stores = [await open_store(database_url), await open_store(database_url, migrate=False)]
    try:
        posts = [
            stores[i % 2].liability.append(change(f"e{i % 30}", 100 + i % 30), f"c{i}", i)
            for i in range(60)
        ]
        results = await asyncio.gather(*posts)

        assert sum(created for _, created in results) == 30
        events = sorted(await stores[0].liability.recent(100), key=lambda e: e.seq)
        assert [e.seq for e in events] == list(range(1, 31))
        assert await stores[1].liability.balance_cents() == sum(100 + i for i in range(30))
    finally:
        for opened in stores:
            await opened.close()


# --- hedge records ------------------------------------------------------------------------


async def test_decisions_round_trip_with_every_field_equal(store: SqlStore) -> None:
    assert await store.hedge.last_decision() is None
    first = decision("d1")
    second = decision(
        "d2",
        hedge_ratio=None,
        action="hold",
        size_contracts=Decimal(0),
        btc_price_usd=ONE_SAT,
    )

    await store.hedge.record_decision(first)
    await store.hedge.record_decision(second)

    assert await store.hedge.get_decision("d1") == first
    assert await store.hedge.last_decision() == second
    assert await store.hedge.get_decision("missing") is None
    stored = await store.hedge.get_decision("d1")
    assert stored is not None
    assert_exact(stored.hedge_ratio, EXACT)
    with pytest.raises(ConflictError, match="d1"):
        await store.hedge.record_decision(first)


async def test_position_snapshots_round_trip_with_every_field_equal(store: SqlStore) -> None:
    assert await store.hedge.last_position() is None
    first = snapshot(1_000)
    second = snapshot(
        2_000, avg_price_usd=None, liquidation_price_usd=None, leverage=None, size_contracts=EXACT
    )

    await store.hedge.record_position(first)
    assert await store.hedge.last_position() == first
    await store.hedge.record_position(second)

    last = await store.hedge.last_position()
    assert last == second
    assert last is not None
    assert_exact(last.size_contracts, EXACT)
    assert_exact(last.collateral_available, ONE_SAT)
    assert_exact(last.funding_balance, Decimal("21000000.00000000"))


async def test_decimals_survive_exactly(store: SqlStore) -> None:
    values = [
        EXACT,
        ONE_SAT,
        Decimal("-0.00000001"),
        Decimal("1.10"),
        Decimal("123456789012345678901234567890.123456789012345678"),
        Decimal("0"),
    ]
    for i, value in enumerate(values):
        await store.hedge.record_position(snapshot(i, collateral=value, leverage=value))
        last = await store.hedge.last_position()
        assert last is not None
        assert_exact(last.collateral, value)
        assert_exact(last.leverage, value)


async def test_order_lifecycle_created_unknown_filled(store: SqlStore) -> None:
    order = intent("o1", created_at_ms=1_000)
    await store.hedge.create_order(order)

    created = await store.hedge.get_order("o1")
    assert created is not None
    assert (created.intent, created.state, created.updated_at_ms) == (order, "created", 1_000)
    assert [r.intent for r in await store.hedge.open_orders()] == [order]

    await store.hedge.record_order_state("o1", OrderState.UNKNOWN, 1_500, message="timeout")
    (unknown,) = await store.hedge.open_orders()
    assert (unknown.state, unknown.message, unknown.updated_at_ms) == ("unknown", "timeout", 1_500)

    await store.hedge.record_order_state(
        "o1",
        OrderState.FILLED,
        2_000,
        venue_order_id="v-99",
        filled_contracts=Decimal("3"),
        avg_price_usd=EXACT,
    )
    assert await store.hedge.open_orders() == []
    filled = await store.hedge.get_order("o1")
    assert filled is not None
    assert (filled.state, filled.venue_order_id, filled.message) == ("filled", "v-99", "")
    assert_exact(filled.filled_contracts, Decimal("3"))
    assert_exact(filled.avg_price_usd, EXACT)
    history = select(order_events.c.state, order_events.c.correlation_id).order_by(
        order_events.c.id
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(history)).all()
    assert [tuple(row) for row in rows] == [(s, "c-o1") for s in ("created", "unknown", "filled")]


async def test_open_and_recent_orders_are_ordered(store: SqlStore) -> None:
    # one instrument each: the store keeps one open order per instrument
    close = intent(
        "o3",
        created_at_ms=3_000,
        kind=OrderKind.CLOSE_POSITION,
        side=None,
        size_contracts=Decimal(0),
        instrument_id="BTC-USD-261225",
    )
    maker = intent(
        "o4",
        created_at_ms=4_000,
        kind=OrderKind.POST_ONLY,
        limit_price_usd=Decimal("7010.1"),
        instrument_id="BTC-USDT-SWAP",
    )
    second = intent("o2", 2_000, instrument_id="BTC-USD-260925")
    for order in (intent("o1", 1_000), second, close, maker):
        await store.hedge.create_order(order)
    await store.hedge.record_order_state("o2", OrderState.REJECTED, 2_500, message="no margin")
    await store.hedge.record_order_state("o1", OrderState.ACCEPTED, 2_600, venue_order_id="v1")

    open_ids = [r.intent.client_order_id for r in await store.hedge.open_orders()]
    assert open_ids == ["o1", "o3", "o4"]
    recent = await store.hedge.recent_orders(3)
    assert [r.intent.client_order_id for r in recent] == ["o4", "o3", "o2"]
    assert recent[0].intent == maker  # the limit price comes back exactly
    assert recent[1].intent == close
    assert recent[2].state is OrderState.REJECTED
    assert await store.hedge.recent_orders(0) == []


async def test_order_errors(store: SqlStore) -> None:
    await store.hedge.create_order(intent("o1"))

    with pytest.raises(ConflictError, match="o1"):
        await store.hedge.create_order(intent("o1", size_contracts=Decimal("5")))
    with pytest.raises(ValueError, match="nosuch"):
        await store.hedge.record_order_state("nosuch", OrderState.FILLED, 1)

    assert await store.hedge.get_order("nosuch") is None
    assert len(await store.hedge.recent_orders(10)) == 1


async def test_fills_are_idempotent_on_fill_id(store: SqlStore) -> None:
    await store.hedge.create_order(intent("o1"))

    assert await store.hedge.record_fills([fill("f2", 2_000), fill("f1", 1_000)], "c") == 2
    again = [fill("f1", 1_000), fill("f3", 3_000), fill("f3", 3_000)]
    assert await store.hedge.record_fills(again, "c") == 1
    assert await store.hedge.record_fills([], "c") == 0

    stored = await store.hedge.fills_for("o1")
    assert stored == [fill("f1", 1_000), fill("f2", 2_000), fill("f3", 3_000)]
    assert_exact(stored[0].fee, ONE_SAT)
    assert_exact(stored[0].price_usd, EXACT)
    assert await store.hedge.fills_for("o2") == []


async def test_many_fills_in_one_call(store: SqlStore) -> None:
    batch = [fill(f"f{i}", i) for i in range(1_200)]

    assert await store.hedge.record_fills(batch, "c") == 1_200
    assert await store.hedge.record_fills(batch, "c") == 0
    assert len(await store.hedge.fills_for("o1")) == 1_200


# --- SQLite specifics ---------------------------------------------------------------------


async def test_sqlite_file_is_created_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "pegkeeper.db"
    opened = await open_store(f"sqlite:///{path}")
    try:
        async with opened.engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
        assert path.exists()
        assert (mode, timeout > 0) == ("wal", True)
    finally:
        await opened.close()


async def test_in_memory_sqlite_store() -> None:
    opened = await open_store("sqlite+aiosqlite://")
    try:
        await asyncio.gather(
            *(opened.liability.append(change(f"e{i}", 10), "c", i) for i in range(20)),
            *(opened.liability.balance_cents() for _ in range(20)),
        )
        assert await opened.liability.balance_cents() == 200
    finally:
        await opened.close()


def test_database_urls_are_given_pegkeepers_drivers() -> None:
    assert normalize_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    with pytest.raises(ValueError, match="unsupported database"):
        normalize_url("mysql://u@h/db")


async def test_one_open_order_per_instrument(store: SqlStore) -> None:
    await store.hedge.record_decision(decision("d-o1"), intent("o1"))
    assert await store.hedge.slot_version("BTC-USD-SWAP") == 1
    with pytest.raises(SlotTaken, match="BTC-USD-SWAP is still open"):
        await store.hedge.record_decision(decision("d-o2"), intent("o2"))
    # refused whole: neither the decision nor the order was written
    assert await store.hedge.get_decision("d-o2") is None
    assert await store.hedge.get_order("o2") is None
    # another instrument is another slot
    await store.hedge.create_order(intent("o3", instrument_id="BTC-USDT-SWAP"))
    await store.hedge.record_order_state("o1", OrderState.FILLED, 2_000)
    await store.hedge.record_decision(decision("d-o2"), intent("o2"))
    assert [o.intent.client_order_id for o in await store.hedge.open_orders()] == ["o3", "o2"]
    assert await store.hedge.slot_version("BTC-USD-SWAP") == 2


async def test_an_order_decided_before_the_slot_moved_is_refused(store: SqlStore) -> None:
    assert await store.hedge.slot_version("BTC-USD-SWAP") == 0
    read_before = 0  # what a second writer read before deciding
    await store.hedge.record_decision(decision("d-o1"), intent("o1"), slot_version=0)
    await store.hedge.record_order_state("o1", OrderState.FILLED, 1_500)
    with pytest.raises(SlotTaken, match="after the decision read its inputs"):
        await store.hedge.record_decision(decision("d-o2"), intent("o2"), slot_version=read_before)
    assert await store.hedge.get_order("o2") is None
    await store.hedge.record_decision(decision("d-o2"), intent("o2"), slot_version=1)
    assert await store.hedge.slot_version("BTC-USD-SWAP") == 2

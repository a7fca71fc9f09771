"""Operator actions and the dashboard's read queries against real SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import Connection, inspect

from pegkeeper.adapters.store.database import SqlStore, alembic_config, migration_transaction
from pegkeeper.domain.errors import ConflictError
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind, OperatorResult
from pegkeeper.domain.orders import Fill, OrderState
from pegkeeper.domain.quote_math import Direction
from pegkeeper.domain.quotes import Quote
from tests.integration.test_store import change, decision, intent, snapshot


def action(
    action_id: str, kind: OperatorActionKind, at_ms: int, **overrides: object
) -> OperatorAction:
    base = OperatorAction(
        action_id=action_id,
        created_at_ms=at_ms,
        operator="alice",
        action=kind,
        target="BTC-USD-SWAP",
        note="incident 42: «venue» maintenance",
        result=OperatorResult.DONE,
        detail="hedging paused",
        correlation_id=f"c-{action_id}",
        client_address="2001:db8::7",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


async def test_operator_actions_round_trip_and_are_appended_once(store: SqlStore) -> None:
    actions = store.operator_actions
    first = action("a1", OperatorActionKind.PAUSE_HEDGING, 1_000)
    await actions.record(first)
    await actions.record(action("a2", OperatorActionKind.ACKNOWLEDGE_ALERT, 2_000, target="al-1"))
    await actions.record(
        action("a3", OperatorActionKind.CLOSE_POSITION, 3_000, result=OperatorResult.UNCERTAIN)
    )
    await actions.record(action("a4", OperatorActionKind.ACKNOWLEDGE_ALERT, 4_000))
    with pytest.raises(ConflictError, match="a1"):
        await actions.record(replace(first, operator="mallory"))
    recent = await actions.recent(10)
    assert [a.action_id for a in recent] == ["a4", "a3", "a2", "a1"]
    assert recent[-1] == first  # every field, the note's characters included
    assert (await actions.recent(1))[0].action_id == "a4" and await actions.recent(0) == []
    hedging_kinds = [k for k in OperatorActionKind if k.sets_hedging_state]
    last = await actions.last_of(hedging_kinds)
    assert last is not None and last.action_id == "a3" and last.result is OperatorResult.UNCERTAIN
    assert await actions.last_of([OperatorActionKind.RESUME_HEDGING]) is None


async def test_the_trail_of_one_correlation_id_holds_every_record_that_shares_it(
    store: SqlStore,
) -> None:
    event, _ = await store.liability.append(change("u1", 1_000_000), "corr1", 1_000)
    await store.liability.append(change("u2", 5_000), "other", 1_100)
    order = intent("pk1", 1_200, correlation_id="corr1", decision_id="d1")
    await store.hedge.record_decision(decision("d1", correlation_id="corr1"), order)
    fill = Fill("f1", "pk1", Decimal("98"), Decimal("7938.1"), Decimal("0.00001234"), "BTC", 1_300)
    await store.hedge.record_order_state(
        "pk1", OrderState.FILLED, 1_400, venue_order_id="v1", filled_contracts=Decimal(98),
        avg_price_usd=Decimal("7938.1"), fills=[fill],
    )  # fmt: skip
    await store.hedge.record_position(snapshot(1_500, correlation_id="corr1"))
    await store.hedge.record_position(snapshot(1_600, correlation_id="other"))
    await store.operator_actions.record(
        action("a1", OperatorActionKind.CLOSE_POSITION, 1_700, correlation_id="corr1")
    )
    trail = await store.audit.trail("corr1")
    assert [e.event_id for e in trail.liability_events] == [event.event_id]
    assert [d.decision_id for d in trail.decisions] == ["d1"]
    assert [o.intent.client_order_id for o in trail.orders] == ["pk1"]
    assert trail.orders[0].state is OrderState.FILLED
    assert [(s.state, s.created_at_ms) for s in trail.order_states] == [
        (OrderState.CREATED, 1_200),
        (OrderState.FILLED, 1_400),
    ]
    assert trail.fills == [fill]
    assert [p.created_at_ms for p in trail.positions] == [1_500]
    assert [a.action_id for a in trail.operator_actions] == ["a1"]
    assert (await store.audit.trail("nothing")).empty
    assert [s.state for s in await store.audit.order_states("pk1")] == [
        OrderState.CREATED,
        OrderState.FILLED,
    ]
    found = await store.audit.liability_events_for(["corr1", "other", "missing", "corr1"])
    assert [e.event_id for e in found] == ["u1", "u2"]


async def test_histories_start_with_the_value_in_force_and_are_thinned(store: SqlStore) -> None:
    balance = 0
    for i in range(1, 11):  # +100 cents at 1 000, 2 000, ... 10 000 ms
        balance += 100
        await store.liability.append(change(f"e{i}", 100), f"c{i}", i * 1_000)
    points = await store.audit.liability_history(4_500, 9_000, 100)
    # in force at 4 500: the balance after the event at 4 000 (400), then 500 ... 900
    assert [(p.ts_ms, p.liability_cents) for p in points] == [
        (4_500, 400), (5_000, 500), (6_000, 600), (7_000, 700), (8_000, 800), (9_000, 900),
    ]  # fmt: skip
    thinned = await store.audit.liability_history(0, 20_000, 4)
    assert [p.liability_cents for p in thinned] == [100, 300, 600, 1_000]  # ends on the newest
    for at_ms in range(1_000, 7_000, 1_000):
        await store.hedge.record_position(snapshot(at_ms))
    positions = await store.audit.position_history(2_500, 5_000, 100)
    # the snapshot in force at 2 500 (taken at 2 000), then those within
    assert [p.created_at_ms for p in positions] == [2_000, 3_000, 4_000, 5_000]
    assert positions[0] == snapshot(2_000)  # exact decimals
    assert [p.created_at_ms for p in await store.audit.position_history(0, 10_000, 2)] == [
        1_000,
        6_000,
    ]
    assert [p.created_at_ms for p in await store.audit.position_history(3_500, 10_000, 2)] == [
        3_000,
        6_000,
    ]


async def test_fees_are_summed_exactly_per_currency(store: SqlStore) -> None:
    await store.hedge.record_decision(decision("d1"), intent("pk1"))
    fees = [Decimal("0.00000001"), Decimal("0.12345678"), Decimal("0.1"), Decimal("-0.00000002")]
    fills = [
        Fill(f"f{i}", "pk1", Decimal(1), Decimal(7000), fee, "BTC", i) for i, fee in enumerate(fees)
    ]
    fills.append(Fill("u1", "pk1", Decimal(1), Decimal(7000), Decimal("0.5"), "USDT", 9))
    await store.hedge.record_order_state("pk1", OrderState.FILLED, 10, fills=fills)
    # 0.00000001 + 0.12345678 + 0.1 - 0.00000002 = 0.22345677
    assert await store.audit.fees_paid() == {"BTC": Decimal("0.22345677"), "USDT": Decimal("0.5")}


async def test_recent_quotes_newest_first(store: SqlStore) -> None:
    for i in range(3):
        await store.quotes.create(
            Quote(
                quote_id=f"00000000-0000-4000-8000-00000000000{i}",
                direction=Direction.BUY,
                immediate_execution=False,
                amount_sats=100_000 + i,
                amount_cents=2_000,
                fee_rate=Decimal("0.001"),
                fee_cents=Decimal("2.123456"),
                book_source="okx",
                book_ts_ms=1,
                created_at_ms=1_000 + i,
                expires_at_ms=100_000,
            )
        )
    quotes = await store.audit.recent_quotes(2)
    assert [q.amount_sats for q in quotes] == [100_002, 100_001]
    assert quotes[0].fee_cents == Decimal("2.123456")


async def test_the_operator_actions_migration_goes_down_and_up_again(store: SqlStore) -> None:
    def tables(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    def migrate(conn: Connection, direction: str, revision: str) -> None:
        config = alembic_config(conn)
        if direction == "down":
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)

    async with migration_transaction(store.engine) as conn:
        await conn.run_sync(migrate, "down", "0004")
        assert "operator_actions" not in await conn.run_sync(tables)
        await conn.run_sync(migrate, "up", "head")
        assert "operator_actions" in await conn.run_sync(tables)
    await store.operator_actions.record(action("a1", OperatorActionKind.PAUSE_HEDGING, 1))
    assert len(await store.operator_actions.recent(5)) == 1

"""The funding manager's trail and the rolls of dated futures in SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.store.tables import (
    funding_decisions,
    funding_operations,
    hedge_decisions,
    orders,
)
from pegkeeper.domain.collateral import (
    Alert,
    AlertKind,
    AlertRecord,
    CollateralDecisionRecord,
    CollateralOperation,
    FeeBump,
    LeverageSnapshot,
    OperationKind,
    OperationState,
    OperationUpdate,
    Severity,
)
from pegkeeper.domain.errors import ConflictError, SlotTaken
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.domain.records import DecisionRecord
from pegkeeper.domain.roll import RollRecord
from tests.waiting import until

EXACT = Decimal("1.23456789")
ADDRESS = "bcrt1qexampleaddress0000000000000000000000"


def decision(decision_id: str, **overrides: object) -> CollateralDecisionRecord:
    base = CollateralDecisionRecord(
        decision_id=decision_id,
        correlation_id=f"c-{decision_id}",
        created_at_ms=1_700_000_000_000,
        trigger="price",
        policy="stablesats",
        rule="8-exposure-near-high-bound",
        action="transfer_to_trading",
        amount=Decimal("0.23333333"),
        currency="BTC",
        liability_cents=3_700_000,
        exposure_cents=-3_700_000,
        collateral=EXACT,
        funding_balance=Decimal("21000000.00000000"),
        price_usd=Decimal("16012.3"),
        leverage=None,
        outcome="acted",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def operation(
    operation_id: str, kind: OperationKind = OperationKind.DEPOSIT
) -> CollateralOperation:
    return CollateralOperation(
        operation_id=operation_id,
        kind=kind,
        currency="BTC",
        amount=Decimal("0.50000417"),
        decision_id=f"d-{operation_id}",
        correlation_id=f"c-{operation_id}",
        created_at_ms=1_000,
        address=ADDRESS if kind is not OperationKind.TRANSFER_TO_TRADING else "",
        fee=Decimal("0.0001") if kind is OperationKind.WITHDRAWAL else Decimal(0),
    )


async def count(store: SqlStore, table: object) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_a_decision_and_its_operation_are_stored_together_with_exact_amounts(
    store: SqlStore,
) -> None:
    await store.funding.record_decision(decision("d-op1"), operation("op1"))
    record = await store.funding.get_operation("op1")
    assert record is not None and record.state is OperationState.CREATED
    assert record.operation == operation("op1")
    assert record.operation.amount.as_tuple() == Decimal("0.50000417").as_tuple()
    last = await store.funding.last_decision()
    assert last == decision("d-op1")
    assert last is not None and last.collateral.as_tuple() == EXACT.as_tuple()


async def test_states_are_appended_and_the_open_ones_listed(store: SqlStore) -> None:
    await store.funding.record_decision(decision("d-a"), operation("a"))
    await store.funding.record_decision(
        decision("d-b"), operation("b", OperationKind.TRANSFER_TO_TRADING)
    )
    await store.funding.record_operation_state(
        "a", OperationUpdate(OperationState.PENDING, tx_id="tx1", message="broadcast"), 2_000
    )
    await store.funding.record_operation_state(
        "b", OperationUpdate(OperationState.DONE, venue_id="T1"), 2_500
    )
    (open_one,) = await store.funding.open_operations()
    assert open_one.operation.operation_id == "a"
    assert (open_one.state, open_one.tx_id, open_one.updated_at_ms) == (
        OperationState.PENDING,
        "tx1",
        2_000,
    )
    await store.funding.record_operation_state(
        "a", OperationUpdate(OperationState.LOST, tx_id="tx1", message="timed out"), 9_000
    )
    assert await store.funding.open_operations() == []
    recent = await store.funding.recent_operations(10)
    assert [(r.operation.operation_id, r.state) for r in recent] == [
        ("b", OperationState.DONE),
        ("a", OperationState.LOST),
    ]


async def test_an_unknown_operation_or_a_repeated_decision_writes_nothing(
    store: SqlStore,
) -> None:
    with pytest.raises(ValueError, match="unknown funding operation 'nope'"):
        await store.funding.record_operation_state("nope", OperationUpdate(OperationState.DONE), 1)
    await store.funding.record_decision(decision("d1"), operation("x1"))
    with pytest.raises(ConflictError):
        await store.funding.record_decision(decision("d1"), operation("x2"))
    assert await store.funding.get_operation("x2") is None
    assert await count(store, funding_decisions) == 1
    assert await count(store, funding_operations) == 1


async def test_an_ended_state_is_final_and_an_expected_state_is_checked(
    store: SqlStore,
) -> None:
    await store.funding.record_decision(decision("d-h"), operation("h"))
    held = OperationUpdate(OperationState.HELD, message="no send shown")
    await store.funding.record_operation_state("h", held, 2_000)
    # a change expected from another state is refused: the deposit is held, not pending
    found = OperationUpdate(OperationState.PENDING, tx_id="aa" * 32)
    with pytest.raises(ConflictError, match="h is held, no longer pending: pending is not"):
        await store.funding.record_operation_state(
            "h", found, 2_500, expected=OperationState.PENDING
        )
    failed = OperationUpdate(OperationState.FAILED, message="never sent")
    await store.funding.record_operation_state("h", failed, 3_000, expected=OperationState.HELD)
    assert await store.funding.open_operations() == []
    # nothing follows an ended state: the operation stays failed and closed
    with pytest.raises(ConflictError, match="h is failed: its state is final, pending is not"):
        await store.funding.record_operation_state("h", found, 3_500)
    bump = FeeBump("h", "", "bb" * 32, Decimal(1), Decimal(2), None, "c-h", 3_600)
    with pytest.raises(ConflictError, match="its state is final"):
        await store.funding.record_fee_bump(bump, found)
    record = await store.funding.get_operation("h")
    assert record is not None
    assert (record.state, record.tx_id, record.updated_at_ms) == (OperationState.FAILED, "", 3_000)
    assert await store.funding.open_operations() == []
    assert await store.funding.fee_bumps("h") == []


async def test_a_lookup_racing_a_settlement_waits_for_it_and_is_refused(
    store: SqlStore,
) -> None:
    """The web process settles a held deposit in a transaction with its audit record while the
    funding manager, which read it held, finds its send: the finder's write waits for the
    settlement's commit (PostgreSQL: the row lock; SQLite: the one writer) and is refused."""
    await store.funding.record_decision(decision("d-r"), operation("r"))
    held = OperationUpdate(OperationState.HELD, message="no send shown")
    await store.funding.record_operation_state("r", held, 2_000)
    settling, release = asyncio.Event(), asyncio.Event()

    async def settle() -> None:
        async with store.transaction():
            failed = OperationUpdate(OperationState.FAILED, message="never sent")
            await store.funding.record_operation_state(
                "r", failed, 3_000, expected=OperationState.HELD
            )
            settling.set()
            await release.wait()

    settlement = asyncio.create_task(settle())
    await settling.wait()
    found = OperationUpdate(OperationState.PENDING, tx_id="aa" * 32, message="found sent")
    lookup = asyncio.create_task(store.funding.record_operation_state("r", found, 3_100))

    async def waits_or_done() -> bool:
        return lookup.done() or await _writer_waits(store)

    try:
        await until(waits_or_done, "the lookup's write waiting, or written")
        assert not lookup.done(), "the lookup was written before the settlement's commit"
    finally:
        release.set()
        await settlement
    with pytest.raises(ConflictError, match="r is failed: its state is final"):
        await lookup
    record = await store.funding.get_operation("r")
    assert record is not None and (record.state, record.tx_id) == (OperationState.FAILED, "")
    assert await store.funding.open_operations() == []


async def _writer_waits(store: SqlStore) -> bool:
    """Whether a write waits for another transaction: on PostgreSQL a backend waiting for a
    lock, on SQLite a task queued behind the one writer (the lookup has not finished)."""
    if store.engine.dialect.name != "postgresql":
        await asyncio.sleep(0)  # the lookup starts, and queues behind the settlement
        return True
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with store.engine.connect() as conn:
        return int((await conn.execute(waiting)).scalar_one()) > 0


async def test_one_open_operation_per_account_and_class(store: SqlStore) -> None:
    await store.funding.record_decision(
        decision("d-t"), operation("t1", OperationKind.TRANSFER_TO_TRADING)
    )
    # a withdrawal waits for the pending transfer: the same account, the same class
    with pytest.raises(SlotTaken, match="another movement of BTC is open"):
        await store.funding.record_decision(
            decision("d-w"), operation("w1", OperationKind.WITHDRAWAL)
        )
    assert await store.funding.get_operation("w1") is None
    assert await count(store, funding_decisions) == 1
    # a deposit is another class: it may travel while the transfer is pending
    await store.funding.record_decision(decision("d-a"), operation("a1"))
    await store.funding.record_operation_state(
        "t1", OperationUpdate(OperationState.DONE, venue_id="T1"), 2_000
    )
    await store.funding.record_decision(decision("d-w"), operation("w1", OperationKind.WITHDRAWAL))
    assert {r.operation.operation_id for r in await store.funding.open_operations()} == {
        "a1",
        "w1",
    }


async def test_each_venue_has_its_own_slots_and_its_rows_carry_its_name(
    store: SqlStore,
) -> None:
    transfer = OperationKind.TRANSFER_TO_TRADING
    await store.funding.record_decision(decision("d-p"), operation("p1", transfer))
    binance = replace(operation("b1", transfer), venue="binance")
    # the same class of the same currency, on another venue's account: side by side
    await store.funding.record_decision(decision("d-b", venue="binance"), binance)
    with pytest.raises(SlotTaken, match="another movement of BTC on binance is open"):
        await store.funding.record_decision(
            decision("d-b2", venue="binance"), replace(operation("b2", transfer), venue="binance")
        )
    opened = {r.operation.operation_id: r.operation for r in await store.funding.open_operations()}
    assert opened == {"p1": operation("p1", transfer), "b1": binance}
    assert (opened["p1"].slot, opened["b1"].slot) == ("BTC:movement", "binance:BTC:movement")
    venues = [d.venue for d in await store.funding.recent_decisions(10)]
    assert venues == ["binance", "primary"]


async def test_a_fee_bump_records_the_new_transaction_with_it(store: SqlStore) -> None:
    await store.funding.record_decision(decision("d-dep"), operation("dep"))
    bump = FeeBump(
        operation_id="dep",
        old_tx_id="aa" * 32,
        new_tx_id="bb" * 32,
        old_fee_rate_sat_vb=Decimal("2"),
        new_fee_rate_sat_vb=Decimal("12.5"),
        leverage=Decimal("4.2312"),
        correlation_id="c-dep",
        created_at_ms=5_000,
    )
    await store.funding.record_fee_bump(
        bump, OperationUpdate(OperationState.PENDING, tx_id="bb" * 32, message="fee bumped")
    )
    assert await store.funding.fee_bumps("dep") == [bump]
    record = await store.funding.get_operation("dep")
    assert record is not None and record.tx_id == "bb" * 32 and record.updated_at_ms == 5_000


async def test_leverage_snapshots_and_alerts_round_trip(store: SqlStore) -> None:
    snapshot = LeverageSnapshot(
        created_at_ms=10,
        correlation_id="c",
        venue="okx",
        currency="BTC",
        mark_price_usd=Decimal("7938.39"),
        position_contracts=Decimal(-98),
        notional=Decimal("1.23451166"),
        equity=Decimal("0.41150389"),
        funding_balance=Decimal(1),
        leverage=Decimal("3.0000"),
        liquidation_price_usd=None,
        liquidation_source="none",
        distance_pct=None,
    )
    later = replace(snapshot, created_at_ms=20, distance_pct=Decimal("49.4"))
    await store.funding.record_leverage(snapshot)
    await store.funding.record_leverage(later)
    assert await store.funding.recent_leverage(5) == [later, snapshot]
    alert = Alert(
        alert_id="al1",
        kind=AlertKind.DEPOSIT_LOST,
        severity=Severity.CRITICAL,
        title="deposit lost",
        message="0.5 BTC not seen in 3600 s",
        created_at_ms=30,
        correlation_id="c-dep",
        details={"operation_id": "dep", "tx_id": "aa"},
    )
    await store.funding.record_alert(AlertRecord(alert, delivered=False, error="HTTP 500"))
    assert await store.funding.recent_alerts(5) == [AlertRecord(alert, False, "HTTP 500")]
    with pytest.raises(ConflictError):
        await store.funding.record_alert(AlertRecord(alert, delivered=True, error=""))


def roll_parts() -> tuple[DecisionRecord, RollRecord, list[OrderIntent]]:
    record = DecisionRecord(
        decision_id="roll-d1",
        correlation_id="roll-c1",
        created_at_ms=77,
        trigger="periodic",
        policy="roll",
        rule="roll-to-next-expiry",
        action="roll",
        size_contracts=Decimal(98),
        instrument_id="BTC-USD-200626",
        liability_cents=1_000_000,
        exposure_cents=-980_000,
        position_contracts=Decimal(-98),
        hedge_ratio=Decimal("0.98"),
        btc_price_usd=Decimal("6543.2"),
    )
    legs = [
        OrderIntent(
            "pkopen1",
            "BTC-USD-200626",
            OrderKind.MARKET,
            OrderSide.SELL,
            Decimal(98),
            "roll-d1",
            "roll-c1",
            77,
        ),
        OrderIntent(
            "pkclose1",
            "BTC-USD-200327",
            OrderKind.MARKET,
            OrderSide.BUY,
            Decimal(98),
            "roll-d1",
            "roll-c1",
            77,
        ),
    ]
    roll = RollRecord(
        roll_id="r1",
        decision_id="roll-d1",
        correlation_id="roll-c1",
        created_at_ms=77,
        from_instrument_id="BTC-USD-200327",
        to_instrument_id="BTC-USD-200626",
        size_contracts=Decimal(98),
        from_position_contracts=Decimal(-98),
        open_client_order_id="pkopen1",
        close_client_order_id="pkclose1",
    )
    return record, roll, legs


async def test_a_roll_stores_its_decision_and_both_legs_in_one_transaction(
    store: SqlStore,
) -> None:
    record, roll, legs = roll_parts()
    await store.rolls.record_roll(record, roll, legs)
    assert await store.rolls.recent_rolls(5) == [roll]
    assert await store.hedge.get_decision("roll-d1") == record
    open_orders = await store.hedge.open_orders()
    assert [(o.intent.client_order_id, o.state) for o in open_orders] == [
        ("pkopen1", OrderState.CREATED),
        ("pkclose1", OrderState.CREATED),
    ]
    # again: refused, and nothing of the second attempt is half written
    with pytest.raises(ConflictError):
        await store.rolls.record_roll(replace(record, decision_id="roll-d2"), roll, legs)
    assert await count(store, hedge_decisions) == 1 and await count(store, orders) == 2
    with pytest.raises(ValueError, match="exactly its opening and its closing order"):
        await store.rolls.record_roll(record, roll, legs[:1])

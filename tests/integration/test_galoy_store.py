"""The Galoy repository and the ledger sources' state, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.store.ledger_tables import galoy_corrections
from pegkeeper.domain.galoy import (
    GaloyTransaction,
    PendingEntry,
    RejectedTransaction,
    StoredTrade,
    UserTrade,
)
from pegkeeper.domain.ledger_sync import Backlog, SourceState

T = 1_700_000_000_000


def tx(tx_id: str, currency: str, amount: int, at_ms: int = T) -> GaloyTransaction:
    return GaloyTransaction(
        tx_id=tx_id,
        cursor=f"cursor-{tx_id}",
        created_at_ms=at_ms,
        direction="SEND" if amount < 0 else "RECEIVE",
        memo=None,
        status="SUCCESS",
        settlement_amount=amount,
        settlement_currency=currency,
        settlement_via="SettlementViaIntraLedger",
        usd_cents=amount if currency == "USD" else amount // 40,
        raw=f'{{"id": "{tx_id}"}}',
    )


BUY = UserTrade("b1", "u1", T, usd_cents=-1_000, sats=40_000, matched_by="amount")


async def test_a_page_is_stored_once_with_its_cursor(store: SqlStore) -> None:
    page = [tx("u1", "USD", -1_000), tx("b1", "BTC", 40_000), tx("u1", "USD", -1_000)]
    rejected = RejectedTransaction("x1", "cursor-x1", "missing settlementAmount", "{}")
    new = await store.galoy.store_page([*page, rejected], "cursor-u1", T)
    assert sorted(t.tx_id for t in new) == ["b1", "u1", "x1"]
    assert await store.galoy.latest_cursor() == "cursor-u1"
    # the same page again stores nothing; a page without a cursor (a re-check) keeps the cursor
    assert await store.galoy.store_page(page, "cursor-u1", T + 1) == []
    assert await store.galoy.store_page([tx("b2", "BTC", 80_000, T + 5)], None, T + 2) != []
    assert await store.galoy.latest_cursor() == "cursor-u1"
    unpaired = await store.galoy.unpaired()
    assert [t.tx_id for t in unpaired] == ["b1", "u1", "b2"]  # by time, then id
    assert unpaired[0] == tx("b1", "BTC", 40_000)  # every field read back as stored
    assert await store.galoy.backlog(T) == Backlog(unpaired=3, unposted=0, rejected=1)
    assert await store.galoy.backlog(T + 1) == Backlog(unpaired=1, unposted=0, rejected=1)


async def test_pairing_closes_the_legs_and_opens_a_ledger_entry(store: SqlStore) -> None:
    await store.galoy.store_page([tx("u1", "USD", -1_000), tx("b1", "BTC", 40_000)], "c", T)
    (stored,) = await store.galoy.record_pairing([BUY], [], T + 10)
    assert stored == StoredTrade("galoy-trade-b1-u1", BUY)
    assert await store.galoy.unpaired() == []
    memo = "galoy: a user bought 10.00 USD for 40000 sats (btc tx b1, usd tx u1, paired by amount)"
    assert await store.galoy.unposted() == [PendingEntry("galoy-trade-b1-u1", 1_000, memo, T)]
    await store.galoy.mark_posted("galoy-trade-b1-u1")
    assert await store.galoy.unposted() == []
    group, standing = await store.galoy.group(T)
    assert [t.tx_id for t in group] == ["b1", "u1"] and standing == [stored]


async def test_a_posted_trade_found_wrong_gets_a_reversing_entry(store: SqlStore) -> None:
    await store.galoy.store_page([tx("u1", "USD", -1_000), tx("b1", "BTC", 40_000)], "c", T)
    (stored,) = await store.galoy.record_pairing([BUY], [], T)
    await store.galoy.mark_posted(stored.trade_id)
    await store.galoy.record_pairing([], [stored], T + 1)
    (entry,) = await store.galoy.unposted()
    assert (entry.event_id, entry.delta_cents) == ("galoy-correction-b1-u1", -1_000)
    assert [t.tx_id for t in await store.galoy.unpaired()] == ["b1", "u1"]
    assert await store.galoy.trades() == [(stored, "galoy-correction-b1-u1")]
    # the same two legs paired again are a new trade with a new id
    (again,) = await store.galoy.record_pairing([BUY], [], T + 2)
    assert again.trade_id == "galoy-trade-b1-u1-g2"
    assert [e.event_id for e in await store.galoy.unposted()] == [
        "galoy-correction-b1-u1",
        "galoy-trade-b1-u1-g2",
    ]
    _, standing = await store.galoy.group(T)
    assert standing == [again]


async def test_a_trade_found_wrong_before_it_was_posted_is_just_not_posted(
    store: SqlStore,
) -> None:
    await store.galoy.store_page([tx("u1", "USD", -1_000), tx("b1", "BTC", 40_000)], "c", T)
    (stored,) = await store.galoy.record_pairing([BUY], [], T)
    await store.galoy.record_pairing([], [stored], T + 1)
    assert await store.galoy.unposted() == []
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(galoy_corrections))).one()
    assert (row.correction_id, row.reversed_in_ledger) == ("galoy-correction-b1-u1", False)


async def test_the_recheck_finds_the_oldest_unchecked_and_the_cursor_before_it(
    store: SqlStore,
) -> None:
    older = tx("a0", "BTC", 4_000, T - 7_000)
    page = [tx("u1", "USD", -1_000), tx("b1", "BTC", 40_000), older]
    await store.galoy.store_page(page, "cursor-u1", T)
    assert await store.galoy.due_for_recheck(T) is None  # checked when stored
    due = await store.galoy.due_for_recheck(T + 1)
    assert due is not None and due.tx_id == "a0"
    assert await store.galoy.cursor_before(due) is None
    assert await store.galoy.cursor_before(tx("b1", "BTC", 40_000)) == "cursor-a0"
    await store.galoy.mark_checked("a0", T + 5)
    due = await store.galoy.due_for_recheck(T + 1)
    assert due is not None and due.tx_id == "b1"


async def test_a_source_s_state_round_trips(store: SqlStore) -> None:
    state = store.ledger_state
    assert await state.get("galoy") is None
    await state.record_failure("galoy", 10, "HTTP 502", stopped=False)
    assert await state.get("galoy") == SourceState(
        "galoy", last_error="HTTP 502", updated_at_ms=10, failed_polls=1
    )
    await state.record_failure("galoy", 15, "HTTP 502", stopped=False)
    assert (await state.get("galoy")) == SourceState(
        "galoy", last_error="HTTP 502", updated_at_ms=15, failed_polls=2
    )
    await state.record_success("galoy", 20, has_more=True)  # counts from 0 again
    await state.record_failure("galoy", 30, "login refused", stopped=True)
    assert await state.get("galoy") == SourceState(
        "galoy",
        has_more=True,
        last_poll_ms=20,
        last_error="login refused",
        stopped=True,
        updated_at_ms=30,
        failed_polls=1,
    )
    await state.record_start("galoy", 40)
    restarted = await state.get("galoy")
    assert restarted is not None and not restarted.stopped and restarted.last_poll_ms == 20

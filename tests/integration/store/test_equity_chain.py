"""The equity store's chain side on SQLite and PostgreSQL: the schema, the checkpoint and kept
hashes, onchain fills and skipped logs, reorgs."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.store.equity_tables import EQUITY_TABLES, equity_onchain_fills
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.equities.chain import BlockRef, SkipReason
from pegkeeper.domain.equities.ledger import Allocation, RevertedFill
from pegkeeper.domain.equities.pnl import TradeCursor, broker_trade_key, onchain_trade_key
from pegkeeper.domain.errors import ConflictError, InvalidInput
from pegkeeper.domain.orders import OrderSide
from tests.integration.store.schema_support import downgrade_and_upgrade, schema_differences

from .equity_records import (
    D,
    block_hash,
    block_ms,
    bought,
    execution,
    head,
    ingest,
    intent,
    report,
    skipped,
    sold,
)

FILLED = BrokerOrderState.FILLED


async def test_the_migration_creates_exactly_the_equity_tables_and_downgrades(
    store: SqlStore,
) -> None:
    names = {t.name for t in EQUITY_TABLES}
    async with store.engine.begin() as conn:
        assert names <= set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert await conn.run_sync(schema_differences, EQUITY_TABLES) == []
        without, again = await conn.run_sync(downgrade_and_upgrade, "0011")
    assert names.isdisjoint(without)
    assert names <= again


# --- checkpoint, hashes, fills -------------------------------------------------------------


async def test_an_empty_store_has_no_checkpoint_fills_or_exposure(store: SqlStore) -> None:
    repo = store.equities
    assert await repo.checkpoint() is None
    assert await repo.kept_block_hashes() == {}
    assert await repo.exposures() == {}
    assert await repo.skipped_counts() == {}
    assert await repo.fills_of("AAPL", 10) == []
    assert await repo.trades() == []


async def test_a_range_moves_the_checkpoint_keeps_recent_hashes_and_stores_fills(
    store: SqlStore,
) -> None:
    repo = store.equities
    first = sold(10, 3, "0.3", "45")
    second = bought(12, 0, "0.123456789012345678", "18.518518")

    new = await repo.record_range(
        head(14),
        [second, first],
        [],
        {12: block_hash(12), 13: block_hash(13), 14: block_hash(14)},
        keep_from_block=13,
    )

    assert new == [first, second]  # chain order
    assert await repo.checkpoint() == BlockRef(14, block_hash(14), head(14).timestamp_s)
    assert await repo.kept_block_hashes() == {13: block_hash(13), 14: block_hash(14)}
    exposure = (await repo.exposures())["AAPL"]
    # -0.3 + 0.123456789012345678, exactly
    assert exposure.onchain_net == D("-0.176543210987654322")
    assert exposure.broker_net == 0
    assert exposure.in_flight is None
    assert exposure.oldest_open_ms == block_ms(10)
    assert exposure.last_price_usd == D("18.518518") / D("0.123456789012345678")

    await ingest(repo, 20, keep=3)
    assert await repo.kept_block_hashes() == {n: block_hash(n) for n in (18, 19, 20)}


async def test_the_same_fill_delivered_twice_is_one_fill(store: SqlStore) -> None:
    repo = store.equities
    fill = sold(10, 1, "2", "300")

    assert await ingest(repo, 10, fill, fill) == [fill]
    assert await ingest(repo, 11, fill) == []

    exposure = (await repo.exposures())["AAPL"]
    assert exposure.onchain_net == D("-2")
    assert [c.fill.fill_id for c in await repo.fills_of("AAPL", 10)] == [fill.fill_id]
    assert len((await repo.ledger_snapshot()).onchain_fills) == 1


async def test_a_range_behind_the_checkpoint_is_refused_and_writes_nothing(
    store: SqlStore,
) -> None:
    repo = store.equities
    await ingest(repo, 20)

    with pytest.raises(ConflictError, match="block 20, past the range read to 15"):
        await ingest(repo, 15, sold(15, 0, "1", "100"), keep=10)

    assert (await repo.checkpoint()) == head(20)
    assert sorted(await repo.kept_block_hashes()) == [16, 17, 18, 19, 20]
    assert await repo.exposures() == {}


async def test_bad_fills_are_refused_with_what_was_wrong(store: SqlStore) -> None:
    repo = store.equities
    with pytest.raises(InvalidInput, match=r"shares 0: expected a number > 0"):
        await ingest(repo, 10, sold(10, 0, "0", "1"))
    with pytest.raises(InvalidInput, match=r"in block 11, past the range read to 10"):
        await ingest(repo, 10, sold(11, 0, "1", "1"))
    with pytest.raises(InvalidInput, match=r"usdc NaN"):
        await ingest(repo, 10, sold(10, 0, "1", "NaN"))
    assert await repo.checkpoint() is None


async def test_checkpoint_and_fills_are_written_together_or_not_at_all(store: SqlStore) -> None:
    repo = store.equities
    with pytest.raises(InvalidInput, match="unknown broker order 'nope'"):
        async with store.transaction():
            logs = (skipped(10, 1, SkipReason.UNKNOWN_TOKEN),)
            await ingest(repo, 10, sold(10, 0, "1", "150"), skipped_logs=logs)
            await repo.record_broker_report(report("nope", FILLED), 1)

    assert await repo.checkpoint() is None
    assert await repo.kept_block_hashes() == {}
    assert await repo.exposures() == {}
    assert await repo.skipped_counts() == {}

    async with store.transaction():
        await ingest(repo, 10, sold(10, 0, "1", "150"))
    assert await repo.checkpoint() == head(10)
    assert (await repo.exposures())["AAPL"].onchain_net == D("-1")


async def test_skipped_logs_are_counted_by_reason_once_each(store: SqlStore) -> None:
    repo = store.equities
    logs = (
        skipped(10, 0, SkipReason.UNKNOWN_TOKEN, "0xdead"),
        skipped(10, 1, SkipReason.NOT_STOCK_USDC, "tAAPL/wtAAPL"),
        skipped(11, 0, SkipReason.UNKNOWN_TOKEN, "0xbeef"),
    )
    await ingest(repo, 11, skipped_logs=(*logs, logs[0]))
    await ingest(repo, 12, skipped_logs=logs[:1])

    assert await repo.skipped_counts() == {"unknown_token": 2, "not_stock_usdc": 1}
    assert await repo.exposures() == {}

    await repo.revert_from(11, now_ms=5)
    assert await repo.skipped_counts() == {"unknown_token": 1, "not_stock_usdc": 1}
    await ingest(repo, 11, skipped_logs=logs[2:])  # the same block read again
    assert await repo.skipped_counts() == {"unknown_token": 2, "not_stock_usdc": 1}


# --- reorgs -------------------------------------------------------------------------------


async def test_a_reorg_reverts_a_hedged_and_an_unhedged_fill(store: SqlStore) -> None:
    repo = store.equities
    hedged = sold(10, 0, "1", "150", tx="hedged")
    unhedged = sold(12, 2, "0.5", "75.5", tx="unhedged")
    await ingest(repo, 9, keep=3)
    await ingest(repo, 12, hedged, unhedged, keep=6)
    await repo.open_broker_order(intent("o1", OrderSide.BUY, "1"), "exposure -1")
    await repo.record_broker_report(report("o1", FILLED, execution("e1", "1", "149", 1)), 2)

    reverted = await repo.revert_from(10, now_ms=5)

    assert reverted == [
        RevertedFill(hedged.fill_id, "AAPL", D("-1"), D("1")),
        RevertedFill(unhedged.fill_id, "AAPL", D("-0.5"), D("0")),
    ]
    assert await repo.checkpoint() == BlockRef(9, block_hash(9), head(12).timestamp_s)
    assert await repo.kept_block_hashes() == {7: block_hash(7), 8: block_hash(8), 9: block_hash(9)}
    exposure = (await repo.exposures())["AAPL"]
    # the hedge's 1 share is now uncovered: the maker is long 1 (a correcting sale)
    assert (exposure.onchain_net, exposure.broker_net, exposure.exposure) == (
        D("0"),
        D("1"),
        D("1"),
    )
    assert exposure.oldest_open_ms is None
    assert exposure.last_price_usd is None
    snapshot = await repo.ledger_snapshot()
    assert snapshot.allocations == ()
    assert [f.reverted for f in snapshot.onchain_fills] == [True, True]
    assert [t.trade_id for t in await repo.trades()] == ["o1/e1"]  # the hedge stays


async def test_a_fill_mined_again_after_a_reorg_is_new_and_takes_the_released_hedge(
    store: SqlStore,
) -> None:
    repo = store.equities
    original = sold(10, 0, "1", "150", tx="t")
    await ingest(repo, 10, original)
    await repo.open_broker_order(intent("o1", OrderSide.BUY, "1"), "exposure -1")
    await repo.record_broker_report(report("o1", FILLED, execution("e1", "1", "149", 1)), 2)
    await repo.revert_from(10, now_ms=5)

    # the same transaction, same log index, in the new block 11 of the other fork
    again = sold(11, 0, "1", "150", tx="t", fork="b")
    assert again.fill_id == original.fill_id
    assert await ingest(repo, 11, again, fork="b") == [again]

    exposure = (await repo.exposures())["AAPL"]
    assert (exposure.onchain_net, exposure.broker_net, exposure.exposure) == (
        D("-1"),
        D("1"),
        D("0"),
    )
    snapshot = await repo.ledger_snapshot()
    assert [(f.block_number, f.reverted) for f in snapshot.onchain_fills] == [(11, False)]
    assert snapshot.allocations == (Allocation("o1", "e1", again.fill_id, D("1")),)
    trail = await repo.fills_of("AAPL", 10)
    assert [(c.fill.block_number, c.fill.reverted) for c in trail] == [(11, False), (10, True)]
    assert [a.shares for a, _ in trail[0].covers] == [D("1")]
    assert trail[1].covers == ()


async def test_a_revert_above_every_fill_moves_nothing_but_the_hashes(store: SqlStore) -> None:
    repo = store.equities
    kept = sold(10, 0, "1", "150")
    await ingest(repo, 12, kept, skipped_logs=(skipped(12, 0, SkipReason.ZERO_SHARES),))

    assert await repo.revert_from(12, now_ms=5) == []
    assert (await repo.checkpoint() or head(0)).number == 11
    assert sorted(await repo.kept_block_hashes()) == [8, 9, 10, 11]
    assert await repo.skipped_counts() == {}
    assert (await repo.exposures())["AAPL"].onchain_net == D("-1")

    assert await repo.revert_from(30, now_ms=6) == []  # past the checkpoint: it stays
    assert (await repo.checkpoint() or head(0)).number == 11

    assert await repo.revert_from(0, now_ms=7) != []
    assert await repo.checkpoint() is None


async def test_a_reverted_row_keeps_its_audit(store: SqlStore) -> None:
    repo = store.equities
    await ingest(repo, 10, sold(10, 0, "1", "150"))
    await repo.revert_from(10, now_ms=1_234)

    table = equity_onchain_fills
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(table.c.reverted_at_ms, table.c.is_open))).one()
    assert (row.reverted_at_ms, row.is_open) == (1_234, False)


async def test_trades_after_a_cursor_are_the_fills_recorded_since(store: SqlStore) -> None:
    repo = store.equities
    first = sold(10, 0, "1", "150")
    await ingest(repo, 10, first)
    everything = await repo.trades_after(TradeCursor())
    assert [t.trade_id for _, t in everything.keyed] == [first.fill_id]
    assert everything.keyed[0][0] == onchain_trade_key(block_ms(10), 10, 0)
    assert everything.cursor.reverted == 0

    second = bought(11, 1, "2", "302")
    await ingest(repo, 11, second)
    await repo.open_broker_order(intent("o1", OrderSide.BUY, "1"), "exposure -1")
    await repo.record_broker_report(report("o1", FILLED, execution("e1", "1", "149", 7)), 8)
    since = await repo.trades_after(everything.cursor)
    assert sorted(k for k, _ in since.keyed) == [
        broker_trade_key(7, "o1/e1"),
        onchain_trade_key(block_ms(11), 11, 1),
    ]
    # 302 USDC for 2 shares
    assert [t.price_usd for _, t in since.keyed if t.trade_id == second.fill_id] == [D("151")]
    assert (await repo.trades_after(since.cursor)).keyed == []

    await repo.revert_from(11, now_ms=9)
    after_revert = await repo.trades_after(since.cursor)
    assert after_revert.keyed == [] and after_revert.cursor.reverted == 1


async def test_the_last_fill_price_is_the_newest_live_fills(store: SqlStore) -> None:
    repo = store.equities
    assert await repo.last_fill_price("AAPL") is None
    await ingest(repo, 10, sold(10, 0, "2", "300"), sold(10, 1, "1", "151"))
    await ingest(repo, 11, bought(11, 0, "4", "596"))
    assert await repo.last_fill_price("AAPL") == D("149")  # 596 / 4
    await repo.revert_from(11, now_ms=5)
    assert await repo.last_fill_price("AAPL") == D("151")  # log 1 of block 10
    assert await repo.last_fill_price("MSFT") is None

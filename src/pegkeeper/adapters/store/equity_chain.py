"""The chain side of the equity store's writes: the checkpoint, the kept block hashes, the
onchain fills and skipped logs of a range, and what a reorg reverts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store import equity_reads as reads
from pegkeeper.adapters.store.equity_ledger import ROWS_PER_STATEMENT, dialect_insert
from pegkeeper.adapters.store.equity_records import onchain_row, skipped_row
from pegkeeper.adapters.store.equity_tables import (
    equity_block_hashes,
    equity_checkpoint,
    equity_onchain_fills,
    equity_skipped_logs,
)
from pegkeeper.domain.equities.chain import BlockRef, OnchainFill, SkippedLog
from pegkeeper.domain.errors import ConflictError

_O = equity_onchain_fills
CHECKPOINT_ROW = 1


def chain_order(fill: OnchainFill) -> tuple[tuple[int, int], str]:
    return (fill.ref.position, fill.fill_id)


async def move_checkpoint(conn: AsyncConnection, read_to: BlockRef, now_ms: int) -> None:
    """Moves the checkpoint to `read_to`, never back (that is `revert_from`'s)."""
    row = {
        "id": CHECKPOINT_ROW,
        "block_number": read_to.number,
        "block_hash": read_to.hash,
        "block_timestamp_s": read_to.timestamp_s,
        "updated_at_ms": now_ms,
    }
    table = equity_checkpoint
    statement = (
        dialect_insert(conn, table)
        .values(row)
        .on_conflict_do_update(
            index_elements=["id"],
            set_={name: value for name, value in row.items() if name != "id"},
            where=table.c.block_number <= read_to.number,
        )
        .returning(table.c.block_number)
    )
    if (await conn.execute(statement)).one_or_none() is None:
        current = await reads.checkpoint(conn)
        raise ConflictError(
            f"the checkpoint is at block {current.number if current else '?'}, past the range "
            f"read to {read_to.number}: nothing recorded"
        )


async def move_checkpoint_back(conn: AsyncConnection, number: int, now_ms: int) -> None:
    """The checkpoint to block `number` when it is past it. Block `number`'s own time is not
    stored: the checkpoint keeps the later time until the next range sets the real one."""
    table = equity_checkpoint
    if number < 0:
        await conn.execute(delete(table))
        return
    kept = select(equity_block_hashes.c.block_hash).where(
        equity_block_hashes.c.block_number == number
    )
    block_hash = (await conn.execute(kept)).scalar_one_or_none() or ""
    await conn.execute(
        update(table)
        .where(table.c.id == CHECKPOINT_ROW, table.c.block_number > number)
        .values(block_number=number, block_hash=block_hash, updated_at_ms=now_ms)
    )


async def insert_skipped(conn: AsyncConnection, skipped: Sequence[SkippedLog], now_ms: int) -> None:
    """Each log once; one read again after a revert of its very block counts again."""
    unique = {(log.ref.block_hash, log.ref.log_index): log for log in reversed(skipped)}
    rows = [skipped_row(log, now_ms) for log in unique.values()]
    table = equity_skipped_logs
    insert_new = dialect_insert(conn, table).on_conflict_do_update(
        index_elements=["block_hash", "log_index"],
        set_={"reverted_at_ms": None},
        where=table.c.reverted_at_ms.is_not(None),
    )
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        await conn.execute(insert_new.values(rows[start : start + ROWS_PER_STATEMENT]))


async def keep_hashes(
    conn: AsyncConnection, block_hashes: Mapping[int, str], keep_from_block: int
) -> None:
    table = equity_block_hashes
    await conn.execute(delete(table).where(table.c.block_number < keep_from_block))
    rows = [
        {"block_number": number, "block_hash": block_hash}
        for number, block_hash in sorted(block_hashes.items())
        if number >= keep_from_block
    ]
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        statement = dialect_insert(conn, table).values(rows[start : start + ROWS_PER_STATEMENT])
        statement = statement.on_conflict_do_update(
            index_elements=["block_number"], set_={"block_hash": statement.excluded.block_hash}
        )
        await conn.execute(statement)


async def insert_onchain_fills(
    conn: AsyncConnection, fills: Sequence[OnchainFill], now_ms: int
) -> dict[str, int]:
    """Stores the fills not stored live yet; returns their row ids by fill id."""
    rows = [onchain_row(fill, now_ms) for fill in fills]
    insert_new = dialect_insert(conn, _O).on_conflict_do_nothing(
        index_elements=["fill_id"], index_where=_O.c.reverted_at_ms.is_(None)
    )
    row_ids: dict[str, int] = {}
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        statement = insert_new.values(rows[start : start + ROWS_PER_STATEMENT])
        result = await conn.execute(statement.returning(_O.c.id, _O.c.fill_id))
        row_ids.update({row.fill_id: row.id for row in result})
    return row_ids


async def mark_reverted(conn: AsyncConnection, block_number: int, now_ms: int) -> None:
    for table in (_O, equity_skipped_logs):
        values: dict[str, Any] = {"reverted_at_ms": now_ms}
        if table is _O:
            values["is_open"] = False
        await conn.execute(
            update(table)
            .where(table.c.reverted_at_ms.is_(None), table.c.block_number >= block_number)
            .values(values)
        )
    hashes = equity_block_hashes
    await conn.execute(delete(hashes).where(hashes.c.block_number >= block_number))

"""The tokenized-equity hedger's store in SQL (`ports.equities.EquityRepository`): the chain
checkpoint, onchain fills, broker orders and fills, the fill-to-hedge ledger, and P&L.

Writes that allocate take their symbols' position rows first (`equity_ledger.lock_symbols`),
after the checkpoint row where they move it: one order for every writer, so that on PostgreSQL
concurrent writers queue instead of deadlocking, and each reads the remainders the previous
one left. The unique constraints (a live fill id, a broker fill per order, an open slot per
symbol) refuse what a racing writer already wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store import equity_chain as chain
from pegkeeper.adapters.store import equity_reads as reads
from pegkeeper.adapters.store.equity_ledger import (
    ONCHAIN,
    ROWS_PER_STATEMENT,
    ZERO,
    LedgerWrite,
    Piece,
    dialect_insert,
    lock_symbols,
    new_broker_piece,
    new_onchain_piece,
    piece_of_row,
)
from pegkeeper.adapters.store.equity_records import (
    broker_fill_row,
    check_intent,
    check_pnl,
    check_range,
    check_report,
    order_row,
    pnl_row,
    signed,
)
from pegkeeper.adapters.store.equity_tables import (
    equity_block_hashes,
    equity_broker_fills,
    equity_broker_order_events,
    equity_broker_orders,
    equity_onchain_fills,
    equity_pnl_entries,
)
from pegkeeper.adapters.store.repositories import NowMs, Transactions
from pegkeeper.domain.equities.broker import (
    BrokerFill,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
)
from pegkeeper.domain.equities.chain import BlockRef, OnchainFill, SkippedLog
from pegkeeper.domain.equities.ledger import (
    Allocation,
    BrokerOrderRecord,
    FillCover,
    LedgerSnapshot,
    RevertedFill,
    SymbolExposure,
)
from pegkeeper.domain.equities.pnl import PnlEntry, Trade, TradeCursor, TradesRead
from pegkeeper.domain.errors import ConflictError, InvalidInput, SlotTaken
from pegkeeper.domain.orders import OrderSide

_O = equity_onchain_fills
_ORDERS = equity_broker_orders

_ORDER_SYMBOL = select(_ORDERS.c.symbol).where(
    _ORDERS.c.client_order_id == bindparam("client_order_id")
)
_ORDER_BY_ID = select(_ORDERS).where(_ORDERS.c.client_order_id == bindparam("client_order_id"))
_SET_ORDER_STATE = (
    update(_ORDERS)
    .where(_ORDERS.c.client_order_id == bindparam("key"))
    .values(
        state=bindparam("state"),
        broker_order_id=bindparam("broker_order_id"),
        message=bindparam("message"),
        filled_quantity=bindparam("filled_quantity"),
        updated_at_ms=bindparam("updated_at_ms"),
        open_slot=bindparam("open_slot"),
    )
)
_TAKE_SLOT = (
    update(_ORDERS)
    .where(_ORDERS.c.client_order_id == bindparam("key"))
    .values(open_slot=_ORDERS.c.symbol)
)
_LIVE_FROM = (
    select(_O)
    .where(_O.c.reverted_at_ms.is_(None), _O.c.block_number >= bindparam("n"))
    .order_by(_O.c.block_number, _O.c.log_index)
)


class SqlEquityRepository:
    def __init__(self, tx: Transactions, now_ms: NowMs) -> None:
        self._tx = tx
        self._now_ms = now_ms

    # --- the chain ------------------------------------------------------------------------

    async def checkpoint(self) -> BlockRef | None:
        async with self._tx.read() as conn:
            return await reads.checkpoint(conn)

    async def kept_block_hashes(self) -> dict[int, str]:
        async with self._tx.read() as conn:
            rows = (await conn.execute(select(equity_block_hashes))).all()
        return {row.block_number: row.block_hash for row in rows}

    async def record_range(
        self,
        read_to: BlockRef,
        fills: Sequence[OnchainFill],
        skipped: Sequence[SkippedLog],
        block_hashes: Mapping[int, str],
        *,
        keep_from_block: int,
    ) -> list[OnchainFill]:
        check_range(read_to, fills, skipped)
        ordered = sorted({f.fill_id: f for f in reversed(fills)}.values(), key=chain.chain_order)
        now_ms = self._now_ms()
        async with self._tx.write() as conn:
            await chain.move_checkpoint(conn, read_to, now_ms)
            await lock_symbols(conn, (fill.symbol for fill in ordered))
            await chain.insert_skipped(conn, skipped, now_ms)
            await chain.keep_hashes(conn, block_hashes, keep_from_block)
            row_ids = await chain.insert_onchain_fills(conn, ordered, now_ms)
            ledger = LedgerWrite(conn, now_ms)
            new: list[OnchainFill] = []
            for fill in ordered:
                if fill.fill_id not in row_ids:
                    continue  # stored already: one fill however often it is delivered
                await ledger.cover(new_onchain_piece(row_ids[fill.fill_id], fill), fill.symbol)
                ledger.add_to_nets(fill.symbol, onchain=fill.signed_shares)
                new.append(fill)
            await ledger.flush()
        return new

    async def revert_from(self, block_number: int, now_ms: int) -> list[RevertedFill]:
        async with self._tx.write() as conn:
            await chain.move_checkpoint_back(conn, block_number - 1, now_ms)
            # no fill can join these while the checkpoint's row is held
            rows = (await conn.execute(_LIVE_FROM, {"n": block_number})).all()
            await lock_symbols(conn, (row.symbol for row in rows))
            ledger = LedgerWrite(conn, now_ms)
            reverted: list[RevertedFill] = []
            for row in rows:
                piece = piece_of_row(ONCHAIN, row)
                covered = await ledger.release_allocations_of(piece)
                signed_shares = signed(piece.quantity, piece.sign)
                ledger.add_to_nets(row.symbol, onchain=-signed_shares)
                reverted.append(RevertedFill(row.fill_id, row.symbol, signed_shares, covered))
            await chain.mark_reverted(conn, block_number, now_ms)
            await ledger.flush()
        return reverted

    # --- positions and broker orders --------------------------------------------------------

    async def exposures(self) -> dict[str, SymbolExposure]:
        async with self._tx.read() as conn:
            return await reads.exposures(conn)

    async def last_fill_price(self, symbol: str) -> Decimal | None:
        async with self._tx.read() as conn:
            return await reads.last_fill_price(conn, symbol)

    async def open_broker_order(self, intent: BrokerOrderIntent, reason: str) -> None:
        check_intent(intent)
        name = intent.client_order_id
        async with self._tx.write() as conn:
            await lock_symbols(conn, [intent.symbol])
            try:
                await conn.execute(insert(_ORDERS), order_row(intent, reason))
            except IntegrityError:
                raise ConflictError(f"broker order {name!r} is already recorded") from None
            try:
                await conn.execute(_TAKE_SLOT, {"key": name})
            except IntegrityError:
                raise SlotTaken(
                    f"a broker order on {intent.symbol} is not final yet: {name} is not "
                    "recorded and not sent"
                ) from None
            await _append_event(
                conn, name, BrokerOrderState.CREATED, "", ZERO, "", intent.created_at_ms
            )

    async def record_broker_report(
        self, report: BrokerOrderReport, now_ms: int
    ) -> list[Allocation]:
        check_report(report)
        async with self._tx.write() as conn:
            order = await _locked_order(conn, report.client_order_id)
            pieces = await _insert_broker_fills(conn, order, report.fills, now_ms)
            ledger = LedgerWrite(conn, now_ms)
            allocations: list[Allocation] = []
            for piece in pieces:
                allocations += await ledger.cover(piece, order.symbol)
                ledger.add_to_nets(order.symbol, broker=signed(piece.quantity, piece.sign))
            await ledger.flush()
            filled = order.filled_quantity + sum((p.quantity for p in pieces), ZERO)
            await _apply_state(
                conn, order, report.state, report.broker_order_id, report.message, filled, now_ms
            )
        return allocations

    async def record_broker_state(
        self, client_order_id: str, state: BrokerOrderState, message: str, now_ms: int
    ) -> None:
        async with self._tx.write() as conn:
            order = await _locked_order(conn, client_order_id)
            await _apply_state(conn, order, state, "", message, order.filled_quantity, now_ms)

    async def open_broker_orders(self) -> list[BrokerOrderRecord]:
        async with self._tx.read() as conn:
            return await reads.open_orders(conn)

    async def broker_order(self, client_order_id: str) -> BrokerOrderRecord | None:
        async with self._tx.read() as conn:
            return await reads.order(conn, client_order_id)

    # --- the ledger's read side -------------------------------------------------------------

    async def ledger_snapshot(self) -> LedgerSnapshot:
        async with self._tx.read() as conn:
            await reads.repeatable(conn)
            return await reads.ledger_snapshot(conn)

    async def fills_of(self, symbol: str, limit: int) -> list[FillCover]:
        if limit <= 0:
            return []
        async with self._tx.read() as conn:
            await reads.repeatable(conn)
            return await reads.fills_of(conn, symbol, limit)

    async def skipped_counts(self) -> dict[str, int]:
        async with self._tx.read() as conn:
            return await reads.skipped_counts(conn)

    # --- P&L --------------------------------------------------------------------------------

    async def trades(self) -> list[Trade]:
        async with self._tx.read() as conn:
            await reads.repeatable(conn)
            return await reads.trades(conn)

    async def trades_after(self, cursor: TradeCursor) -> TradesRead:
        async with self._tx.read() as conn:
            await reads.repeatable(conn)
            return await reads.trades_after(conn, cursor)

    async def pnl_entries(self) -> list[PnlEntry]:
        async with self._tx.read() as conn:
            return await reads.pnl_entries(conn)

    async def replace_pnl_from(self, ts_ms: int, entries: Sequence[PnlEntry]) -> None:
        check_pnl(ts_ms, entries)
        rows = [pnl_row(entry) for entry in sorted(entries, key=lambda e: e.ts_ms)]
        try:
            async with self._tx.write() as conn:
                table = equity_pnl_entries
                await conn.execute(delete(table).where(table.c.ts_ms >= ts_ms))
                for start in range(0, len(rows), ROWS_PER_STATEMENT):
                    await conn.execute(insert(table), rows[start : start + ROWS_PER_STATEMENT])
        except IntegrityError:
            raise ConflictError(
                f"a replacing P&L entry's trade is already stored before {ts_ms} ms: "
                "replace from that trade's time on"
            ) from None


async def _locked_order(conn: AsyncConnection, client_order_id: str) -> Any:
    """The order's row, read after its symbol's lock is taken."""
    params = {"client_order_id": client_order_id}
    symbol = (await conn.execute(_ORDER_SYMBOL, params)).scalar_one_or_none()
    if symbol is None:
        raise InvalidInput(
            f"unknown broker order {client_order_id!r}: expected one recorded by open_broker_order"
        )
    await lock_symbols(conn, [symbol])
    return (await conn.execute(_ORDER_BY_ID, params)).one()


async def _insert_broker_fills(
    conn: AsyncConnection, order: Any, fills: Sequence[BrokerFill], now_ms: int
) -> list[Piece]:
    """Stores the report's fills not stored yet; returns them as pieces in time order."""
    unique = {fill.fill_id: fill for fill in reversed(fills)}
    side = OrderSide(order.side)
    rows = [
        broker_fill_row(order.client_order_id, order.symbol, side, fill, now_ms)
        for fill in unique.values()
    ]
    table = equity_broker_fills
    insert_new = dialect_insert(conn, table).on_conflict_do_nothing(
        index_elements=["client_order_id", "fill_id"]
    )
    pieces: list[Piece] = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        statement = insert_new.values(rows[start : start + ROWS_PER_STATEMENT])
        for row in await conn.execute(statement.returning(table.c.id, table.c.fill_id)):
            fill = unique[row.fill_id]
            pieces.append(new_broker_piece(row.id, order.client_order_id, side, fill))
    return sorted(pieces, key=lambda p: p.position)


async def _apply_state(
    conn: AsyncConnection,
    order: Any,
    state: BrokerOrderState,
    broker_order_id: str,
    message: str,
    filled: Decimal,
    now_ms: int,
) -> None:
    """The order's new state and an event, when anything changed. A final order stays final:
    a state that is not final (a stale report) only adds its fills."""
    current = BrokerOrderState(order.state)
    if current.is_terminal and not state.is_terminal:
        state, message = current, order.message
    broker_order_id = broker_order_id or order.broker_order_id
    unchanged = (current, order.broker_order_id, order.message, order.filled_quantity)
    if (state, broker_order_id, message, filled) == unchanged:
        return
    params = {
        "key": order.client_order_id,
        "state": state.value,
        "broker_order_id": broker_order_id,
        "message": message,
        "filled_quantity": filled,
        "updated_at_ms": now_ms,
        "open_slot": None if state.is_terminal else order.symbol,
    }
    await conn.execute(_SET_ORDER_STATE, params)
    await _append_event(
        conn, order.client_order_id, state, broker_order_id, filled, message, now_ms
    )


async def _append_event(
    conn: AsyncConnection,
    client_order_id: str,
    state: BrokerOrderState,
    broker_order_id: str,
    filled: Decimal,
    message: str,
    now_ms: int,
) -> None:
    row = {
        "client_order_id": client_order_id,
        "state": state.value,
        "broker_order_id": broker_order_id,
        "filled_quantity": filled,
        "message": message,
        "created_at_ms": now_ms,
    }
    await conn.execute(insert(equity_broker_order_events), row)

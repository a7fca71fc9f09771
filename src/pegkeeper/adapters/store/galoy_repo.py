"""Galoy transactions, their pairing into user trades, and the corrections of wrong pairings.

Transactions, trades and corrections are inserted once and never changed. Two small index tables
say what is still open: the transactions waiting for their other leg, and the ledger entries
not yet posted (each deleted in the transaction that closes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store.ledger_state_repo import upsert_source
from pegkeeper.adapters.store.ledger_tables import (
    galoy_corrections,
    galoy_trades,
    galoy_transactions,
    galoy_unpaired,
    galoy_unposted,
    ledger_sources,
)
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.domain.galoy import (
    GaloyTransaction,
    ParsedTransaction,
    PendingEntry,
    RejectedTransaction,
    StoredTrade,
    UserTrade,
    correction_event_id,
    correction_memo,
    pairable,
    trade_event_id,
    trade_memo,
)
from pegkeeper.domain.ledger_sync import Backlog

SOURCE = "galoy"
txs = galoy_transactions
trades = galoy_trades
corrections = galoy_corrections

_UNPAIRED = (
    select(txs)
    .join(galoy_unpaired, galoy_unpaired.c.tx_id == txs.c.tx_id)
    .order_by(txs.c.created_at_ms, txs.c.tx_id)
)
_STANDING = (
    select(trades)
    .outerjoin(corrections, corrections.c.trade_id == trades.c.trade_id)
    .where(corrections.c.id.is_(None))
)


class SqlGaloyRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def latest_cursor(self) -> str | None:
        query = select(ledger_sources.c.cursor).where(ledger_sources.c.source == SOURCE)
        async with self._tx.read() as conn:
            cursor: str | None = (await conn.execute(query)).scalar_one_or_none()
        return cursor

    async def store_page(
        self, transactions: Sequence[ParsedTransaction], newest_cursor: str | None, now_ms: int
    ) -> list[ParsedTransaction]:
        fresh: dict[str, ParsedTransaction] = {}
        for item in reversed(transactions):  # oldest first, so row ids follow time
            fresh.setdefault(item.tx_id, item)
        async with self._tx.write() as conn:
            if fresh:
                known = select(txs.c.tx_id).where(txs.c.tx_id.in_(list(fresh)))
                for tx_id in (await conn.execute(known)).scalars():
                    del fresh[tx_id]
            if fresh:
                await conn.execute(insert(txs), [_row(t, now_ms) for t in fresh.values()])
                waiting = [
                    {"tx_id": t.tx_id, "checked_at_ms": now_ms}
                    for t in fresh.values()
                    if isinstance(t, GaloyTransaction) and pairable(t)
                ]
                if waiting:
                    await conn.execute(insert(galoy_unpaired), waiting)
            if newest_cursor is not None:
                await upsert_source(conn, SOURCE, now_ms, cursor=newest_cursor)
        return list(fresh.values())

    async def unpaired(self) -> list[GaloyTransaction]:
        async with self._tx.read() as conn:
            rows = (await conn.execute(_UNPAIRED)).all()
        return [_transaction(row) for row in rows]

    async def due_for_recheck(self, checked_before_ms: int) -> GaloyTransaction | None:
        query = _UNPAIRED.where(galoy_unpaired.c.checked_at_ms < checked_before_ms).limit(1)
        async with self._tx.read() as conn:
            row = (await conn.execute(query)).one_or_none()
        return _transaction(row) if row is not None else None

    async def cursor_before(self, tx: GaloyTransaction) -> str | None:
        query = (
            select(txs.c.cursor)
            .where(txs.c.created_at_ms < tx.created_at_ms)
            .order_by(txs.c.created_at_ms.desc(), txs.c.id.desc())
            .limit(1)
        )
        async with self._tx.read() as conn:
            cursor: str | None = (await conn.execute(query)).scalar_one_or_none()
        return cursor

    async def mark_checked(self, tx_id: str, now_ms: int) -> None:
        query = (
            update(galoy_unpaired)
            .where(galoy_unpaired.c.tx_id == tx_id)
            .values(checked_at_ms=now_ms)
        )
        async with self._tx.write() as conn:
            await conn.execute(query)

    async def group(self, created_at_ms: int) -> tuple[list[GaloyTransaction], list[StoredTrade]]:
        readable = select(txs).where(
            and_(txs.c.created_at_ms == created_at_ms, txs.c.rejected_reason.is_(None))
        )
        standing = _STANDING.where(trades.c.created_at_ms == created_at_ms)
        async with self._tx.read() as conn:
            tx_rows = (await conn.execute(readable.order_by(txs.c.tx_id))).all()
            trade_rows = (await conn.execute(standing.order_by(trades.c.id))).all()
        return [_transaction(r) for r in tx_rows], [_stored(r) for r in trade_rows]

    async def record_pairing(
        self, new: Sequence[UserTrade], wrong: Sequence[StoredTrade], now_ms: int
    ) -> list[StoredTrade]:
        async with self._tx.write() as conn:
            for stored in wrong:
                await _reverse(conn, stored, now_ms)
            return [await _store_trade(conn, trade, now_ms) for trade in new]

    async def unposted(self) -> list[PendingEntry]:
        query = select(galoy_unposted).order_by(
            galoy_unposted.c.order_ms, galoy_unposted.c.created_at_ms, galoy_unposted.c.event_id
        )
        async with self._tx.read() as conn:
            rows = (await conn.execute(query)).all()
        return [PendingEntry(r.event_id, r.delta_cents, r.memo, r.order_ms) for r in rows]

    async def mark_posted(self, event_id: str) -> None:
        async with self._tx.write() as conn:
            await conn.execute(delete(galoy_unposted).where(galoy_unposted.c.event_id == event_id))

    async def trades(self) -> list[tuple[StoredTrade, str | None]]:
        query = (
            select(trades, corrections.c.correction_id)
            .outerjoin(corrections, corrections.c.trade_id == trades.c.trade_id)
            .order_by(trades.c.id)
        )
        async with self._tx.read() as conn:
            rows = (await conn.execute(query)).all()
        return [(_stored(row), row.correction_id) for row in rows]

    async def backlog(self, unpaired_since_ms: int) -> Backlog:
        recent_unpaired = (
            select(func.count())
            .select_from(galoy_unpaired.join(txs, txs.c.tx_id == galoy_unpaired.c.tx_id))
            .where(txs.c.created_at_ms >= unpaired_since_ms)
        )
        unposted = select(func.count()).select_from(galoy_unposted)
        # a rejected transaction is stored without a createdAt (an indexed column)
        rejected = select(func.count()).select_from(txs).where(txs.c.created_at_ms.is_(None))
        async with self._tx.read() as conn:
            return Backlog(
                unpaired=int((await conn.execute(recent_unpaired)).scalar_one()),
                unposted=int((await conn.execute(unposted)).scalar_one()),
                rejected=int((await conn.execute(rejected)).scalar_one()),
            )


async def _store_trade(conn: AsyncConnection, trade: UserTrade, now_ms: int) -> StoredTrade:
    same_legs = and_(trades.c.btc_tx_id == trade.btc_tx_id, trades.c.usd_tx_id == trade.usd_tx_id)
    earlier = (
        await conn.execute(select(func.count()).select_from(trades).where(same_legs))
    ).scalar_one()
    trade_id = trade_event_id(trade.btc_tx_id, trade.usd_tx_id, int(earlier) + 1)
    await conn.execute(
        insert(trades).values(
            trade_id=trade_id,
            btc_tx_id=trade.btc_tx_id,
            usd_tx_id=trade.usd_tx_id,
            created_at_ms=trade.created_at_ms,
            usd_cents=trade.usd_cents,
            sats=trade.sats,
            matched_by=trade.matched_by,
            paired_at_ms=now_ms,
        )
    )
    legs = galoy_unpaired.c.tx_id.in_([trade.btc_tx_id, trade.usd_tx_id])
    await conn.execute(delete(galoy_unpaired).where(legs))
    await conn.execute(
        insert(galoy_unposted).values(
            event_id=trade_id,
            delta_cents=trade.delta_cents,
            memo=trade_memo(trade),
            order_ms=trade.created_at_ms,
            created_at_ms=now_ms,
        )
    )
    return StoredTrade(trade_id, trade)


async def _reverse(conn: AsyncConnection, stored: StoredTrade, now_ms: int) -> None:
    """A correction for a trade found wrong. A trade never posted is simply not posted; a
    posted one gets a reversing entry. Its legs wait for a pair again."""
    trade = stored.trade
    never_posted = await conn.execute(
        delete(galoy_unposted).where(galoy_unposted.c.event_id == stored.trade_id)
    )
    correction_id = correction_event_id(stored.trade_id)
    reversed_in_ledger = never_posted.rowcount == 0
    if reversed_in_ledger:
        await conn.execute(
            insert(galoy_unposted).values(
                event_id=correction_id,
                delta_cents=-trade.delta_cents,
                memo=correction_memo(stored.trade_id),
                order_ms=trade.created_at_ms,
                created_at_ms=now_ms,
            )
        )
    await conn.execute(
        insert(corrections).values(
            correction_id=correction_id,
            trade_id=stored.trade_id,
            reversed_in_ledger=reversed_in_ledger,
            created_at_ms=now_ms,
        )
    )
    legs = [trade.btc_tx_id, trade.usd_tx_id]
    waiting = select(galoy_unpaired.c.tx_id).where(galoy_unpaired.c.tx_id.in_(legs))
    already = set((await conn.execute(waiting)).scalars())
    rows = [{"tx_id": leg, "checked_at_ms": now_ms} for leg in legs if leg not in already]
    if rows:
        await conn.execute(insert(galoy_unpaired), rows)


def _row(item: ParsedTransaction, now_ms: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tx_id": item.tx_id,
        "cursor": item.cursor,
        "raw": item.raw,
        "stored_at_ms": now_ms,
        "created_at_ms": None,
        "direction": None,
        "memo": None,
        "status": None,
        "settlement_amount": None,
        "settlement_currency": None,
        "settlement_via": None,
        "usd_cents": None,
        "rejected_reason": None,
    }
    if isinstance(item, RejectedTransaction):
        row["rejected_reason"] = item.reason
        return row
    row.update(
        created_at_ms=item.created_at_ms,
        direction=item.direction,
        memo=item.memo,
        status=item.status,
        settlement_amount=item.settlement_amount,
        settlement_currency=item.settlement_currency,
        settlement_via=item.settlement_via,
        usd_cents=item.usd_cents,
    )
    return row


def _transaction(row: Row[Any]) -> GaloyTransaction:
    return GaloyTransaction(
        tx_id=row.tx_id,
        cursor=row.cursor,
        created_at_ms=row.created_at_ms,
        direction=row.direction,
        memo=row.memo,
        status=row.status,
        settlement_amount=row.settlement_amount,
        settlement_currency=row.settlement_currency,
        settlement_via=row.settlement_via,
        usd_cents=row.usd_cents,
        raw=row.raw,
    )


def _stored(row: Row[Any]) -> StoredTrade:
    trade = UserTrade(
        btc_tx_id=row.btc_tx_id,
        usd_tx_id=row.usd_tx_id,
        created_at_ms=row.created_at_ms,
        usd_cents=row.usd_cents,
        sats=row.sats,
        matched_by=row.matched_by,
    )
    return StoredTrade(row.trade_id, trade)

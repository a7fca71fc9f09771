"""The equity store's reads, each on a connection the repository opened."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store.equity_records import (
    allocation_record,
    broker_fill_record,
    onchain_record,
    order_record,
    pnl_record,
)
from pegkeeper.adapters.store.equity_tables import (
    equity_allocations,
    equity_broker_fills,
    equity_broker_orders,
    equity_checkpoint,
    equity_onchain_fills,
    equity_pnl_entries,
    equity_positions,
    equity_skipped_logs,
)
from pegkeeper.domain.equities.chain import BlockRef, OnchainSide
from pegkeeper.domain.equities.fifo import keyed_trades
from pegkeeper.domain.equities.ledger import (
    Allocation,
    BrokerFillRecord,
    BrokerOrderRecord,
    FillCover,
    LedgerSnapshot,
    OnchainFillRecord,
    SymbolExposure,
)
from pegkeeper.domain.equities.pnl import PnlEntry, Trade, TradeCursor, TradesRead

_O = equity_onchain_fills
_B = equity_broker_fills
_A = equity_allocations
_ORDERS = equity_broker_orders
_LIVE = _O.c.reverted_at_ms.is_(None)
MS_PER_S = 1000

_OPEN_ORDERS = select(_ORDERS).where(_ORDERS.c.open_slot.is_not(None)).order_by(_ORDERS.c.id)
_ORDER_BY_ID = select(_ORDERS).where(_ORDERS.c.client_order_id == bindparam("client_order_id"))
# Per symbol and side: the age of the oldest open fill; the exposure's sign picks the side
# (fills of both signs that net each other are never hedged, so their age is no wait).
_OLDEST_OPEN = (
    select(_O.c.symbol, _O.c.side, func.min(_O.c.block_timestamp_s).label("oldest_s"))
    .where(_O.c.is_open, _LIVE)
    .group_by(_O.c.symbol, _O.c.side)
)
_P = equity_positions
# Per position, its symbol's newest live fill, found through the (symbol, block, log) index
# from the top rather than by ranking every fill.
_newest_fill_row = (
    select(_O.c.id)
    .where(_O.c.symbol == _P.c.symbol, _LIVE)
    .order_by(_O.c.block_number.desc(), _O.c.log_index.desc())
    .limit(1)
    .correlate(_P)
    .scalar_subquery()
)
_LAST_FILL = select(_P.c.symbol, _O.c.shares, _O.c.usdc).select_from(
    _P.join(_O, _O.c.id == _newest_fill_row)
)
_NEWEST_FILL_OF = (
    select(_O.c.shares, _O.c.usdc)
    .where(_O.c.symbol == bindparam("symbol"), _LIVE)
    .order_by(_O.c.block_number.desc(), _O.c.log_index.desc())
    .limit(1)
)
_LIVE_ALLOCATIONS = _A.c.released_at_ms.is_(None)
_REVERTED_COUNT = select(func.count()).select_from(_O).where(_O.c.reverted_at_ms.is_not(None))


async def repeatable(conn: AsyncConnection) -> None:
    """Makes the reads that follow see one snapshot, as a SQLite read transaction already
    does; inside a unit of work the unit's transaction is kept as it is."""
    if conn.dialect.name == "postgresql" and not conn.in_transaction():
        await conn.execution_options(isolation_level="REPEATABLE READ")


async def checkpoint(conn: AsyncConnection) -> BlockRef | None:
    row = (await conn.execute(select(equity_checkpoint))).one_or_none()
    if row is None:
        return None
    return BlockRef(row.block_number, row.block_hash, row.block_timestamp_s)


async def exposures(conn: AsyncConnection) -> dict[str, SymbolExposure]:
    positions = (await conn.execute(select(_P))).all()
    in_flight = {r.symbol: order_record(r) for r in (await conn.execute(_OPEN_ORDERS)).all()}
    oldest = {
        (r.symbol, r.side): r.oldest_s * MS_PER_S for r in (await conn.execute(_OLDEST_OPEN)).all()
    }
    last_price = {r.symbol: r.usdc / r.shares for r in (await conn.execute(_LAST_FILL)).all()}
    return {
        p.symbol: SymbolExposure(
            symbol=p.symbol,
            onchain_net=p.onchain_net,
            broker_net=p.broker_net,
            in_flight=in_flight.get(p.symbol),
            oldest_open_ms=oldest.get((p.symbol, _exposed_side(p.onchain_net + p.broker_net))),
            last_price_usd=last_price.get(p.symbol),
        )
        for p in sorted(positions, key=lambda p: p.symbol)
    }


async def last_fill_price(conn: AsyncConnection, symbol: str) -> Decimal | None:
    row = (await conn.execute(_NEWEST_FILL_OF, {"symbol": symbol})).one_or_none()
    return None if row is None else row.usdc / row.shares


def _exposed_side(exposure: Decimal) -> str | None:
    """The onchain side whose open fills a hedge of `exposure` covers first."""
    if exposure == 0:
        return None
    return (OnchainSide.BOUGHT if exposure > 0 else OnchainSide.SOLD).value


async def open_orders(conn: AsyncConnection) -> list[BrokerOrderRecord]:
    return [order_record(row) for row in (await conn.execute(_OPEN_ORDERS)).all()]


async def order(conn: AsyncConnection, client_order_id: str) -> BrokerOrderRecord | None:
    params = {"client_order_id": client_order_id}
    row = (await conn.execute(_ORDER_BY_ID, params)).one_or_none()
    return order_record(row) if row is not None else None


async def ledger_snapshot(conn: AsyncConnection) -> LedgerSnapshot:
    """Every fill and order, and the live allocations. A fill id that a reorg reverted and the
    chain then mined again appears once, as its live fill."""
    onchain_rows = (
        await conn.execute(select(_O).order_by(_O.c.block_number, _O.c.log_index, _O.c.id))
    ).all()
    live_ids = {row.fill_id for row in onchain_rows if row.reverted_at_ms is None}
    latest: dict[str, OnchainFillRecord] = {}
    for row in onchain_rows:
        if row.reverted_at_ms is None or row.fill_id not in live_ids:
            latest[row.fill_id] = onchain_record(row)
    orders = (await conn.execute(select(_ORDERS).order_by(_ORDERS.c.id))).all()
    broker_fills = (await conn.execute(select(_B).order_by(_B.c.id))).all()
    allocations = (await conn.execute(select(_A).where(_LIVE_ALLOCATIONS).order_by(_A.c.id))).all()
    return LedgerSnapshot(
        onchain_fills=tuple(sorted(latest.values(), key=lambda f: (f.block_number, f.log_index))),
        broker_orders=tuple(order_record(row) for row in orders),
        broker_fills=tuple(broker_fill_record(row) for row in broker_fills),
        allocations=tuple(allocation_record(row) for row in allocations),
    )


async def fills_of(conn: AsyncConnection, symbol: str, limit: int) -> list[FillCover]:
    """Reverted fills included (flagged): the trail shows what a reorg took back."""
    newest_first = (_O.c.block_number.desc(), _O.c.log_index.desc(), _O.c.id.desc())
    fills = (
        await conn.execute(
            select(_O).where(_O.c.symbol == symbol).order_by(*newest_first).limit(limit)
        )
    ).all()
    if not fills:
        return []
    cover_rows = (
        await conn.execute(
            select(
                _A.c.onchain_fill_row,
                _A.c.client_order_id,
                _A.c.broker_fill_id,
                _A.c.onchain_fill_id,
                _A.c.shares,
                _B.c.fill_id,
                _B.c.symbol,
                _B.c.side,
                _B.c.quantity,
                _B.c.price_usd,
                _B.c.fee_usd,
                _B.c.ts_ms,
            )
            .join_from(
                _A,
                _B,
                (_B.c.client_order_id == _A.c.client_order_id)
                & (_B.c.fill_id == _A.c.broker_fill_id),
            )
            .where(_A.c.onchain_fill_row.in_([row.id for row in fills]), _LIVE_ALLOCATIONS)
            .order_by(_A.c.id)
        )
    ).all()
    covers: dict[int, list[tuple[Allocation, BrokerFillRecord]]] = {}
    for row in cover_rows:
        cover = (allocation_record(row), broker_fill_record(row))
        covers.setdefault(row.onchain_fill_row, []).append(cover)
    return [FillCover(onchain_record(row), tuple(covers.get(row.id, ()))) for row in fills]


async def skipped_counts(conn: AsyncConnection) -> dict[str, int]:
    table = equity_skipped_logs
    rows = (
        await conn.execute(
            select(table.c.reason, func.count())
            .where(table.c.reverted_at_ms.is_(None))
            .group_by(table.c.reason)
        )
    ).all()
    return {reason: int(count) for reason, count in rows}


async def trades(conn: AsyncConnection) -> list[Trade]:
    """Live trades in time order (`pnl.TradeKey`)."""
    keyed = (await trades_after(conn, TradeCursor())).keyed
    return [trade for _, trade in sorted(keyed, key=lambda pair: pair[0])]


async def trades_after(conn: AsyncConnection, cursor: TradeCursor) -> TradesRead:
    """Past the cursor: the live onchain fills of rows after `cursor.onchain` and the broker
    fills of rows after `cursor.broker` (row ids), with the reverted count now."""
    reverted = (await conn.execute(_REVERTED_COUNT)).scalar_one()
    onchain = (await conn.execute(select(_O).where(_O.c.id > cursor.onchain))).all()
    broker = (await conn.execute(select(_B).where(_B.c.id > cursor.broker))).all()
    keyed = keyed_trades(
        (onchain_record(row) for row in onchain), (broker_fill_record(row) for row in broker)
    )
    return TradesRead(
        keyed,
        TradeCursor(
            onchain=max((row.id for row in onchain), default=cursor.onchain),
            broker=max((row.id for row in broker), default=cursor.broker),
            reverted=int(reverted),
        ),
    )


async def pnl_entries(conn: AsyncConnection) -> list[PnlEntry]:
    table = equity_pnl_entries
    rows = (await conn.execute(select(table).order_by(table.c.ts_ms, table.c.id))).all()
    return [pnl_record(row) for row in rows]

"""The fill-to-hedge ledger's writes inside one transaction: the per-symbol lock, the open
remainders of fills, their allocations to each other (`domain.equities.allocation.allocate`),
and the released allocations of reverted fills."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store.equity_tables import (
    equity_allocations,
    equity_broker_fills,
    equity_onchain_fills,
    equity_positions,
)
from pegkeeper.domain.equities.allocation import allocate
from pegkeeper.domain.equities.broker import BrokerFill
from pegkeeper.domain.equities.chain import OnchainFill, OnchainSide
from pegkeeper.domain.equities.ledger import Allocation, OpenPiece
from pegkeeper.domain.orders import OrderSide

ZERO = Decimal(0)
ONCHAIN = "onchain"
BROKER = "broker"

_O = equity_onchain_fills
_B = equity_broker_fills
_A = equity_allocations
_P = equity_positions

_ONCHAIN_PIECE = select(
    *(_O.c[name] for name in ("id", "fill_id", "side", "shares", "covered_shares")),
    _O.c.block_number,
    _O.c.log_index,
)
_BROKER_PIECE = select(
    *(_B.c[name] for name in ("id", "client_order_id", "fill_id", "side", "quantity")),
    _B.c.covered_shares,
    _B.c.ts_ms,
)
_OPEN_ONCHAIN = _ONCHAIN_PIECE.where(
    _O.c.symbol == bindparam("symbol"), _O.c.is_open, _O.c.reverted_at_ms.is_(None)
)
_OPEN_BROKER = _BROKER_PIECE.where(_B.c.symbol == bindparam("symbol"), _B.c.is_open)
_BROKER_FILL_BY_KEY = _BROKER_PIECE.where(
    _B.c.client_order_id == bindparam("client_order_id"), _B.c.fill_id == bindparam("fill_id")
)
_NETS = select(_P.c.onchain_net, _P.c.broker_net).where(_P.c.symbol == bindparam("symbol"))
_SET_NETS = (
    update(_P)
    .where(_P.c.symbol == bindparam("key"))
    .values(onchain_net=bindparam("onchain_net"), broker_net=bindparam("broker_net"))
)
_SET_ONCHAIN_COVER = (
    update(_O)
    .where(_O.c.id == bindparam("row_id"))
    .values(covered_shares=bindparam("covered"), is_open=bindparam("open"))
)
_SET_BROKER_COVER = (
    update(_B)
    .where(_B.c.id == bindparam("row_id"))
    .values(covered_shares=bindparam("covered"), is_open=bindparam("open"))
)
_LIVE_ALLOCATIONS_OF = select(
    _A.c.id, _A.c.client_order_id, _A.c.broker_fill_id, _A.c.shares
).where(_A.c.onchain_fill_row == bindparam("row_id"), _A.c.released_at_ms.is_(None))
_RELEASE = (
    update(_A).where(_A.c.id == bindparam("allocation_row")).values(released_at_ms=bindparam("at"))
)
# Keeps a multi-row INSERT well below SQLite's limit of bound parameters per statement.
ROWS_PER_STATEMENT = 200


def dialect_insert(conn: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that takes ON CONFLICT clauses on both backends."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@dataclass(slots=True)
class Piece:
    """A stored fill (onchain or broker) as the allocation sees it: positive `quantity`
    in direction `sign`, `covered` of it allocated, at `position` (chain or time order)."""

    kind: str
    row_id: int
    piece_id: str
    sign: int
    quantity: Decimal
    covered: Decimal
    position: tuple[int, int]
    client_order_id: str = ""
    fill_id: str = ""

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.covered

    def open_piece(self) -> OpenPiece:
        return OpenPiece(self.piece_id, self.sign, self.remaining, self.position)


def onchain_sign(side: str) -> int:
    return 1 if OnchainSide(side) is OnchainSide.BOUGHT else -1


def broker_sign(side: str) -> int:
    return 1 if OrderSide(side) is OrderSide.BUY else -1


def new_onchain_piece(row_id: int, fill: OnchainFill) -> Piece:
    """A fill just stored: nothing of it covered yet."""
    return Piece(
        kind=ONCHAIN,
        row_id=row_id,
        piece_id=fill.fill_id,
        sign=onchain_sign(fill.side),
        quantity=fill.shares,
        covered=ZERO,
        position=fill.ref.position,
        fill_id=fill.fill_id,
    )


def new_broker_piece(row_id: int, client_order_id: str, side: OrderSide, fill: BrokerFill) -> Piece:
    return Piece(
        kind=BROKER,
        row_id=row_id,
        piece_id=f"{client_order_id}/{fill.fill_id}",
        sign=broker_sign(side),
        quantity=fill.quantity,
        covered=ZERO,
        position=(fill.ts_ms, row_id),
        client_order_id=client_order_id,
        fill_id=fill.fill_id,
    )


def piece_of_row(kind: str, row: Any) -> Piece:
    """The piece of a fill's row (the columns of `_ONCHAIN_PIECE` or `_BROKER_PIECE`)."""
    if kind == ONCHAIN:
        return Piece(
            kind=ONCHAIN,
            row_id=row.id,
            piece_id=row.fill_id,
            sign=onchain_sign(row.side),
            quantity=row.shares,
            covered=row.covered_shares,
            position=(row.block_number, row.log_index),
            fill_id=row.fill_id,
        )
    return Piece(
        kind=BROKER,
        row_id=row.id,
        piece_id=f"{row.client_order_id}/{row.fill_id}",
        sign=broker_sign(row.side),
        quantity=row.quantity,
        covered=row.covered_shares,
        position=(row.ts_ms, row.id),
        client_order_id=row.client_order_id,
        fill_id=row.fill_id,
    )


async def lock_symbols(conn: AsyncConnection, symbols: Iterable[str]) -> None:
    """Takes each symbol's position row (created at zero when new), in name order so that two
    writers never wait on each other in a cycle. On PostgreSQL the row stays locked until the
    commit; SQLite holds its write lock already."""
    for symbol in sorted(set(symbols)):
        row = {"symbol": symbol, "onchain_net": ZERO, "broker_net": ZERO, "version": 1}
        statement = (
            dialect_insert(conn, _P)
            .values(row)
            .on_conflict_do_update(index_elements=["symbol"], set_={"version": _P.c.version + 1})
        )
        await conn.execute(statement)


@dataclass
class LedgerWrite:
    """The allocations and coverage changes of one transaction, written by `flush`. The caller
    holds the locks of every symbol it touches (`lock_symbols`)."""

    conn: AsyncConnection
    now_ms: int
    _known: dict[tuple[str, int], Piece] = field(default_factory=dict)
    _open: dict[tuple[str, str], list[Piece]] = field(default_factory=dict)
    _touched: set[tuple[str, int]] = field(default_factory=set)
    _rows: list[dict[str, Any]] = field(default_factory=list)
    _net_deltas: dict[str, list[Decimal]] = field(default_factory=dict)

    def add_to_nets(self, symbol: str, *, onchain: Decimal = ZERO, broker: Decimal = ZERO) -> None:
        deltas = self._net_deltas.setdefault(symbol, [ZERO, ZERO])
        deltas[0] += onchain
        deltas[1] += broker

    async def cover(self, new: Piece, symbol: str) -> list[Allocation]:
        """Covers the new fill `new` by the symbol's open remainders of the other kind (opposite
        signs, oldest first); what stays uncovered is the new fill's own remainder."""
        new = self._register(new)
        other = BROKER if new.kind == ONCHAIN else ONCHAIN
        pieces = {p.piece_id: p for p in await self._open_pieces(other, symbol)}
        opposite = [p.open_piece() for p in pieces.values() if p.remaining > 0]
        made: list[Allocation] = []
        for piece_id, shares in allocate(new.sign, new.remaining, opposite):
            piece = pieces[piece_id]
            onchain, broker = (new, piece) if new.kind == ONCHAIN else (piece, new)
            made.append(self._allocate(onchain, broker, symbol, shares))
        return made

    async def release_allocations_of(self, onchain: Piece) -> Decimal:
        """Releases the live allocations of a reverted onchain fill, reopening the broker
        remainders they used; returns the shares they covered."""
        rows = (await self.conn.execute(_LIVE_ALLOCATIONS_OF, {"row_id": onchain.row_id})).all()
        released = ZERO
        for row in rows:
            await self.conn.execute(_RELEASE, {"allocation_row": row.id, "at": self.now_ms})
            params = {"client_order_id": row.client_order_id, "fill_id": row.broker_fill_id}
            fill = (await self.conn.execute(_BROKER_FILL_BY_KEY, params)).one()
            broker = self._register(piece_of_row(BROKER, fill))
            broker.covered -= row.shares
            self._touched.add((BROKER, broker.row_id))
            released += row.shares
        return released

    async def flush(self) -> None:
        for start in range(0, len(self._rows), ROWS_PER_STATEMENT):
            await self.conn.execute(insert(_A), self._rows[start : start + ROWS_PER_STATEMENT])
        self._rows.clear()
        for key in sorted(self._touched):
            piece = self._known[key]
            statement = _SET_ONCHAIN_COVER if piece.kind == ONCHAIN else _SET_BROKER_COVER
            params = {"row_id": piece.row_id, "covered": piece.covered, "open": piece.remaining > 0}
            await self.conn.execute(statement, params)
        self._touched.clear()
        for symbol, (onchain, broker) in self._net_deltas.items():
            nets = (await self.conn.execute(_NETS, {"symbol": symbol})).one()
            params = {
                "key": symbol,
                "onchain_net": nets.onchain_net + onchain,
                "broker_net": nets.broker_net + broker,
            }
            await self.conn.execute(_SET_NETS, params)
        self._net_deltas.clear()

    def _register(self, piece: Piece) -> Piece:
        """The one in-memory piece of a stored fill, so that every change meets in it."""
        return self._known.setdefault((piece.kind, piece.row_id), piece)

    def _allocate(self, onchain: Piece, broker: Piece, symbol: str, shares: Decimal) -> Allocation:
        onchain.covered += shares
        broker.covered += shares
        self._touched.update({(ONCHAIN, onchain.row_id), (BROKER, broker.row_id)})
        self._rows.append(
            {
                "client_order_id": broker.client_order_id,
                "broker_fill_id": broker.fill_id,
                "onchain_fill_row": onchain.row_id,
                "onchain_fill_id": onchain.fill_id,
                "symbol": symbol,
                "shares": shares,
                "created_at_ms": self.now_ms,
                "released_at_ms": None,
            }
        )
        return Allocation(broker.client_order_id, broker.fill_id, onchain.fill_id, shares)

    async def _open_pieces(self, kind: str, symbol: str) -> list[Piece]:
        """The symbol's open pieces of `kind` as stored when first asked; the pieces then
        change in memory until `flush`."""
        key = (kind, symbol)
        if key not in self._open:
            statement = _OPEN_ONCHAIN if kind == ONCHAIN else _OPEN_BROKER
            rows = (await self.conn.execute(statement, {"symbol": symbol})).all()
            self._open[key] = [self._register(piece_of_row(kind, row)) for row in rows]
        return self._open[key]

"""The store's reads behind the dealer's P&L over a window (`domain.pnl`)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Select, and_, select

from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.adapters.store.tables import (
    fills,
    funding_operation_events,
    funding_operations,
    funding_payments,
    orders,
    position_snapshots,
    quotes,
)
from pegkeeper.domain.collateral import OperationKind, OperationState
from pegkeeper.domain.orders import OrderSide
from pegkeeper.domain.pnl import AcceptedQuote, HedgeFill, OwnMove, PnlInputs, VenueState
from pegkeeper.domain.quote_math import Direction
from pegkeeper.domain.quotes import QuoteState
from pegkeeper.domain.units import sats_to_btc

S = position_snapshots


async def read_pnl_inputs(tx: Transactions, since_ms: int, until_ms: int) -> PnlInputs | None:
    """None without a position snapshot at or before `until_ms`."""
    async with tx.read() as conn:
        start_row = (
            await conn.execute(_snapshot().where(S.c.created_at_ms <= since_ms).limit(1))
        ).one_or_none()
        if start_row is None:  # nothing before the window: from its first snapshot
            first = _snapshot(newest=False).where(S.c.created_at_ms <= until_ms).limit(1)
            start_row = (await conn.execute(first)).one_or_none()
        end_row = (
            await conn.execute(_snapshot().where(S.c.created_at_ms <= until_ms).limit(1))
        ).one_or_none()
        if start_row is None or end_row is None:
            return None
        start, end = _state(start_row), _state(end_row)
        within = (start.ts_ms, end.ts_ms)
        fill_rows = (
            await conn.execute(
                select(fills.c.size_contracts, fills.c.price_usd, fills.c.fee, orders.c.side)
                .select_from(
                    fills.outerjoin(orders, orders.c.client_order_id == fills.c.client_order_id)
                )
                .where(and_(fills.c.ts_ms > within[0], fills.c.ts_ms <= within[1]))
                .order_by(fills.c.ts_ms, fills.c.id)
            )
        ).all()
        moves = (await conn.execute(_moves_done(*within))).all()
        funding = (await conn.execute(_funding_paid(*within))).scalars().all()
        quote_rows = (await conn.execute(_quotes_accepted(*within))).all()
        marks = (
            await conn.execute(
                select(S.c.created_at_ms, S.c.mark_price_usd)
                .where(S.c.created_at_ms <= within[1])
                .where(S.c.created_at_ms >= within[0])
                .order_by(S.c.created_at_ms, S.c.id)
            )
        ).all()
    closing = OrderSide.BUY if start.size_contracts < 0 else OrderSide.SELL
    return PnlInputs(
        start=start,
        end=end,
        fills=[
            HedgeFill(
                r.size_contracts
                if OrderSide(r.side or closing) is OrderSide.BUY
                else -r.size_contracts,
                r.price_usd,
                r.fee,
            )
            for r in fill_rows
        ],
        moves=[_move(r) for r in moves],
        quotes=[_quote(r, marks) for r in quote_rows],
        funding_btc=list(funding),
    )


def _snapshot(newest: bool = True) -> Select[Any]:
    order = (S.c.created_at_ms.desc(), S.c.id.desc()) if newest else (S.c.created_at_ms, S.c.id)
    return select(
        S.c.created_at_ms, S.c.size_contracts, S.c.mark_price_usd, S.c.collateral,
        S.c.funding_balance,
    ).order_by(*order)  # fmt: skip


def _state(r: Row[Any]) -> VenueState:
    return VenueState(
        r.created_at_ms, r.size_contracts, r.mark_price_usd, r.collateral + r.funding_balance
    )


def _moves_done(since_ms: int, until_ms: int) -> Select[Any]:
    """Operations whose `done` state was recorded in the window, with the onchain fee read
    then (a deposit's)."""
    e, o = funding_operation_events, funding_operations
    return (
        select(o.c.kind, o.c.amount, o.c.fee, e.c.fee_sats)
        .select_from(o.join(e, e.c.operation_id == o.c.operation_id))
        .where(e.c.state == OperationState.DONE.value)
        .where(and_(e.c.created_at_ms > since_ms, e.c.created_at_ms <= until_ms))
        .where(o.c.currency == "BTC")
    )


def _move(row: Row[Any]) -> OwnMove:
    kind = OperationKind(row.kind)
    if kind is OperationKind.DEPOSIT:  # its fee is the wallet's, in sats
        return OwnMove(kind, row.amount, sats_to_btc(row.fee_sats or 0))
    return OwnMove(kind, row.amount, row.fee)


def _funding_paid(since_ms: int, until_ms: int) -> Select[Any]:
    f = funding_payments
    return (
        select(f.c.amount)
        .where(f.c.currency == "BTC")
        .where(and_(f.c.ts_ms > since_ms, f.c.ts_ms <= until_ms))
        .order_by(f.c.ts_ms, f.c.id)
    )


def _quotes_accepted(since_ms: int, until_ms: int) -> Select[Any]:
    q = quotes
    return (
        select(q.c.direction, q.c.amount_sats, q.c.amount_cents, q.c.accepted_at_ms)
        .where(q.c.state == QuoteState.ACCEPTED.value)
        .where(and_(q.c.accepted_at_ms > since_ms, q.c.accepted_at_ms <= until_ms))
    )


def _quote(row: Row[Any], marks: Sequence[Row[Any, Any]]) -> AcceptedQuote:
    """Priced at the mark of the last snapshot at or before its acceptance."""
    at = bisect_right([m.created_at_ms for m in marks], row.accepted_at_ms)
    mid: Decimal | None = marks[at - 1].mark_price_usd if at else None
    return AcceptedQuote(Direction(row.direction), row.amount_sats, row.amount_cents, mid)

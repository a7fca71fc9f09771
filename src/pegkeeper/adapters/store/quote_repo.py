"""Quotes in SQL. New quotes are committed in groups (quote_batch); accepting one is a single
transaction with its liability event.

On PostgreSQL a group is one statement: the quotes come as one array per column, and the
statement inserts them and their `created` events (a data-modifying WITH) as one transaction
of its own, in one round trip. On SQLite it is a transaction of two multi-row inserts.

Of two accepts of one quote, the conditional update lets exactly one through: on PostgreSQL the
second waits for the first's row lock and then finds the quote accepted; on SQLite writers
take turns. The ledger entry shares the transaction, so a refused entry leaves the quote open.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store.liability_repo import SqlLiabilityRepository
from pegkeeper.adapters.store.quote_batch import QuoteBatcher
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.adapters.store.tables import quote_events, quotes
from pegkeeper.domain.liability import LedgerEntry, LiabilityEvent
from pegkeeper.domain.quote_math import Direction
from pegkeeper.domain.quotes import Quote, QuoteNotAcceptable, QuoteNotFound, QuoteState

CREATED = "created"
ACCEPTED = "accepted"

_INSERT_QUOTE = insert(quotes)
_INSERT_EVENT = insert(quote_events)
_BY_ID = select(quotes).where(quotes.c.quote_id == bindparam("quote_id"))
_EVENTS = (
    select(quote_events.c.kind, quote_events.c.created_at_ms)
    .where(quote_events.c.quote_id == bindparam("quote_id"))
    .order_by(quote_events.c.id)
)
_ACCEPT = (
    update(quotes)
    .where(
        and_(
            quotes.c.quote_id == bindparam("b_quote_id"),
            quotes.c.state == QuoteState.OPEN.value,
            quotes.c.expires_at_ms > bindparam("b_now_ms"),
        )
    )
    .values(state=QuoteState.ACCEPTED.value, accepted_at_ms=bindparam("b_now_ms"))
)
_COLUMNS = tuple(column for column in quotes.c if column.name != "id")
_ROWS = (
    func.unnest(*(bindparam(c.name, type_=ARRAY(c.type)) for c in _COLUMNS))
    .table_valued(*(c.name for c in _COLUMNS))
    .render_derived()
)
_NEW = (
    insert(quotes)
    .from_select([c.name for c in _COLUMNS], select(*_ROWS.c))
    .returning(quotes.c.quote_id, quotes.c.created_at_ms)
    .cte("new")
)
_INSERT_BATCH_PG = insert(quote_events).from_select(
    ["quote_id", "kind", "created_at_ms"],
    select(_NEW.c.quote_id, literal(CREATED), _NEW.c.created_at_ms),
)


class SqlQuoteRepository:
    def __init__(self, tx: Transactions, ledger: SqlLiabilityRepository) -> None:
        self._tx = tx
        self._ledger = ledger
        self._batcher = QuoteBatcher(lambda batch: store_quotes(tx, batch))

    async def create(self, quote: Quote, entry: LedgerEntry | None = None) -> LiabilityEvent | None:
        if entry is None and not self._tx.in_unit():
            await self._batcher.create(quote)
            return None
        if entry is None:
            async with self._tx.write() as conn:
                await _insert(conn, quote)
            return None

        async def create_accepted(conn: AsyncConnection, failed_seq: int | None) -> LiabilityEvent:
            await _insert(conn, quote)
            await _event(conn, quote.quote_id, ACCEPTED, quote.created_at_ms)
            event, _ = await self._ledger.append_in(conn, entry, failed_seq)
            return event

        return await self._ledger.write_with_ledger(create_accepted)

    async def accept(
        self, quote_id: str, now_ms: int, entry: LedgerEntry
    ) -> tuple[Quote, LiabilityEvent, bool]:
        async def accept_in(
            conn: AsyncConnection, failed_seq: int | None
        ) -> tuple[Quote, LiabilityEvent, bool]:
            params = {"b_quote_id": quote_id, "b_now_ms": now_ms}
            if (await conn.execute(_ACCEPT, params)).rowcount != 1:
                await _explain_refusal(conn, quote_id, now_ms)
            try:
                await _event(conn, quote_id, ACCEPTED, now_ms)
            except IntegrityError:
                raise QuoteNotAcceptable(f"quote {quote_id} was already accepted") from None
            event, created = await self._ledger.append_in(conn, entry, failed_seq)
            row = (await conn.execute(_BY_ID, {"quote_id": quote_id})).one()
            return _quote(row), event, created

        return await self._ledger.write_with_ledger(accept_in)

    async def get(self, quote_id: str) -> Quote | None:
        async with self._tx.read() as conn:
            row = (await conn.execute(_BY_ID, {"quote_id": quote_id})).one_or_none()
        return _quote(row) if row is not None else None

    async def events(self, quote_id: str) -> list[tuple[str, int]]:
        async with self._tx.read() as conn:
            rows = (await conn.execute(_EVENTS, {"quote_id": quote_id})).all()
        return [(row.kind, row.created_at_ms) for row in rows]


async def _insert(conn: AsyncConnection, quote: Quote) -> None:
    await conn.execute(_INSERT_QUOTE, _params(quote))
    await _event(conn, quote.quote_id, CREATED, quote.created_at_ms)


async def store_quotes(tx: Transactions, batch: Sequence[Quote]) -> None:
    """The quotes and their `created` events in one transaction, committed on return."""
    if tx.dialect == "postgresql":
        rows = [_params(quote) for quote in batch]
        arrays = {c.name: [row[c.name] for row in rows] for c in _COLUMNS}
        async with tx.standalone() as conn:
            await conn.execute(_INSERT_BATCH_PG, arrays)
        return
    async with tx.write() as conn:
        await _insert_quotes(conn, batch)


async def _insert_quotes(conn: AsyncConnection, batch: Sequence[Quote]) -> None:
    """The quotes and their `created` events, one multi-row insert per table."""
    await conn.execute(_INSERT_QUOTE, [_params(quote) for quote in batch])
    created = [
        {"quote_id": quote.quote_id, "kind": CREATED, "created_at_ms": quote.created_at_ms}
        for quote in batch
    ]
    await conn.execute(_INSERT_EVENT, created)


async def _event(conn: AsyncConnection, quote_id: str, kind: str, now_ms: int) -> None:
    await conn.execute(_INSERT_EVENT, {"quote_id": quote_id, "kind": kind, "created_at_ms": now_ms})


async def _explain_refusal(conn: AsyncConnection, quote_id: str, now_ms: int) -> None:
    row = (await conn.execute(_BY_ID, {"quote_id": quote_id})).one_or_none()
    if row is None:
        raise QuoteNotFound(f"no quote with id {quote_id}")
    _quote(row).check_acceptable(now_ms)
    raise QuoteNotAcceptable(f"quote {quote_id} cannot be accepted now")  # pragma: no cover


def _params(quote: Quote) -> dict[str, Any]:
    return {
        "quote_id": quote.quote_id,
        "direction": quote.direction.value,
        "immediate_execution": quote.immediate_execution,
        "amount_sats": quote.amount_sats,
        "amount_cents": quote.amount_cents,
        "fee_rate": quote.fee_rate,
        "fee_cents": quote.fee_cents,
        "book_source": quote.book_source[:64],
        "book_ts_ms": quote.book_ts_ms,
        "created_at_ms": quote.created_at_ms,
        "expires_at_ms": quote.expires_at_ms,
        "state": quote.state.value,
        "accepted_at_ms": quote.accepted_at_ms,
    }


def _quote(row: Row[Any]) -> Quote:
    return Quote(
        quote_id=row.quote_id,
        direction=Direction(row.direction),
        immediate_execution=bool(row.immediate_execution),
        amount_sats=row.amount_sats,
        amount_cents=row.amount_cents,
        fee_rate=row.fee_rate,
        fee_cents=row.fee_cents,
        book_source=row.book_source,
        book_ts_ms=row.book_ts_ms,
        created_at_ms=row.created_at_ms,
        expires_at_ms=row.expires_at_ms,
        state=QuoteState(row.state),
        accepted_at_ms=row.accepted_at_ms,
    )

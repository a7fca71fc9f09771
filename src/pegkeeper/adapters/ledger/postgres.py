"""A wallet's liability from its own PostgreSQL ledger: one configured query, read-only.

The query must return one row with one column: the whole liability in USD cents, an integer
of at least 0 (`SELECT sum(balance_cents) FROM usd_wallets`, say). The DSN's password never
appears in a log or an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from pegkeeper.domain.ledger_sync import LedgerUnavailable

_READ_ONLY = text("SET TRANSACTION READ ONLY")


class LiabilityQueryConfigError(ValueError):
    """The DSN or the query cannot be used; names what is wrong."""


def postgres_url(dsn: str) -> URL:
    """The DSN with the asyncpg driver; refuses anything but PostgreSQL."""
    try:
        url = make_url(dsn)
    except ArgumentError:
        raise LiabilityQueryConfigError(
            "[ledger.postgres] dsn (PEGKEEPER_LEDGER__POSTGRES__DSN) is not a database URL; "
            "expected postgresql://user:password@host:5432/database"
        ) from None
    if url.get_backend_name() != "postgresql":
        raise LiabilityQueryConfigError(
            f"[ledger.postgres] dsn must be a PostgreSQL URL (postgresql://...), got a "
            f"{url.get_backend_name()!r} URL"
        )
    return url.set(drivername="postgresql+asyncpg")


class SqlLiabilityQuery:
    def __init__(self, dsn: str, query: str, *, timeout_seconds: float = 10.0) -> None:
        if not query.strip():
            raise LiabilityQueryConfigError(
                "[ledger.postgres] query is empty; expected a SELECT that returns the liability "
                "in cents (one row, one integer column)"
            )
        url = postgres_url(dsn)
        self._password = url.password if isinstance(url.password, str) else ""
        self._query = text(query)
        self._engine = create_async_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_pre_ping=True,
            connect_args={"timeout": timeout_seconds, "command_timeout": timeout_seconds},
        )
        self.where = url.render_as_string(hide_password=True)

    async def liability_cents(self) -> int:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(_READ_ONLY)
                rows = (await conn.execute(self._query)).all()
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            raise LedgerUnavailable(
                f"the liability query on {self.where} failed: {self._scrub(error)}"
            ) from None
        return self._cents(rows)

    async def close(self) -> None:
        await self._engine.dispose()

    def _cents(self, rows: Sequence[Row[Any]]) -> int:
        shape = "expected one row with one integer column (the liability in cents)"
        if len(rows) != 1:
            raise LedgerUnavailable(f"the liability query returned {len(rows)} rows; {shape}")
        row = tuple(rows[0])
        if len(row) != 1:
            raise LedgerUnavailable(f"the liability query returned {len(row)} columns; {shape}")
        value = row[0]
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise LedgerUnavailable(f"the liability query returned {value!r:.60}; {shape}")
        if isinstance(value, Decimal) and (
            not value.is_finite() or value != value.to_integral_value()
        ):
            raise LedgerUnavailable(
                f"the liability query returned {value}, not a whole number of cents; {shape}"
            )
        cents = int(value)
        if cents < 0:
            raise LedgerUnavailable(
                f"the liability query returned {cents} cents; a liability cannot be below 0"
            )
        return cents

    def _scrub(self, error: BaseException) -> str:
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return message.replace(self._password, "***") if self._password else message

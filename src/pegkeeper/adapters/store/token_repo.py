"""Broker logins as the database holds them: sealed tokens, one row per broker."""

from __future__ import annotations

from sqlalchemy import select

from pegkeeper.adapters.store.equity_ledger import dialect_insert
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.adapters.store.token_tables import broker_tokens as t
from pegkeeper.domain.credentials import SealedTokens


class SqlTokenRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def sealed_tokens(self, broker: str) -> SealedTokens | None:
        async with self._tx.read() as conn:
            row = (await conn.execute(select(t).where(t.c.broker == broker))).one_or_none()
        if row is None:
            return None
        return SealedTokens(
            broker=row.broker,
            nonce=bytes(row.nonce),
            ciphertext=bytes(row.ciphertext),
            access_expires_at_ms=row.access_expires_at_ms,
            refresh_expires_at_ms=row.refresh_expires_at_ms,
            updated_at_ms=row.updated_at_ms,
        )

    async def store_sealed_tokens(self, sealed: SealedTokens) -> None:
        values = {
            "nonce": sealed.nonce,
            "ciphertext": sealed.ciphertext,
            "access_expires_at_ms": sealed.access_expires_at_ms,
            "refresh_expires_at_ms": sealed.refresh_expires_at_ms,
            "updated_at_ms": sealed.updated_at_ms,
        }
        async with self._tx.write() as conn:
            statement = dialect_insert(conn, t).values(broker=sealed.broker, **values)
            await conn.execute(
                statement.on_conflict_do_update(index_elements=["broker"], set_=values)
            )

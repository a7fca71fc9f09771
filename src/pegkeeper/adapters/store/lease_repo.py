"""Leases as the database keeps them. Every decision is a conditional statement on the
database's own clock, so processes on machines whose clocks differ agree on who holds what.

The check every write of a lease holder makes is in fencing.py.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, case, or_, select, update

from pegkeeper.adapters.store.equity_ledger import dialect_insert
from pegkeeper.adapters.store.fencing import db_now_ms
from pegkeeper.adapters.store.lease_tables import leases as t
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.domain.leases import Lease, check_lease_request


class SqlLeaseRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def acquire(self, name: str, holder: str, ttl_ms: int) -> Lease | None:
        """Takes the lease when it is free or expired, or renews it for its holder; None while
        another process holds it. Taking it (again) raises its epoch."""
        check_lease_request(name, holder, ttl_ms)
        async with self._tx.write() as conn:
            now = db_now_ms(conn)
            insert = dialect_insert(conn, t).values(
                name=name, holder=holder, epoch=1, expires_at_ms=now + ttl_ms
            )
            held_by_us = and_(t.c.holder == holder, t.c.expires_at_ms > now)
            statement = insert.on_conflict_do_update(
                index_elements=[t.c.name],
                set_={
                    "holder": holder,
                    "epoch": _epoch_after(held_by_us),
                    "expires_at_ms": now + ttl_ms,
                },
                where=or_(t.c.holder == holder, t.c.expires_at_ms <= now),
            ).returning(t.c.name, t.c.holder, t.c.epoch, t.c.expires_at_ms)
            row = (await conn.execute(statement)).one_or_none()
        return None if row is None else Lease(row.name, row.holder, row.epoch, row.expires_at_ms)

    async def release(self, lease: Lease) -> bool:
        """Gives the lease up at once (a standby need not wait for it to expire); False when it
        was no longer held at that epoch."""
        async with self._tx.write() as conn:
            now = db_now_ms(conn)
            statement = (
                update(t)
                .where(t.c.name == lease.name, t.c.holder == lease.holder)
                .where(t.c.epoch == lease.epoch, t.c.expires_at_ms > now)
                .values(expires_at_ms=now - 1)
            )
            return (await conn.execute(statement)).rowcount == 1

    async def current(self, name: str) -> Lease | None:
        async with self._tx.read() as conn:
            row = (await conn.execute(select(t).where(t.c.name == name))).one_or_none()
        return None if row is None else Lease(row.name, row.holder, row.epoch, row.expires_at_ms)

    async def all(self) -> list[Lease]:
        async with self._tx.read() as conn:
            rows = (await conn.execute(select(t).order_by(t.c.name))).all()
        return [Lease(row.name, row.holder, row.epoch, row.expires_at_ms) for row in rows]


def _epoch_after(held_by_us: ColumnElement[bool]) -> ColumnElement[int]:
    return case((held_by_us, t.c.epoch), else_=t.c.epoch + 1)

"""Fencing: the check every write of a lease holder makes inside its own transaction. The lease
it acts under must still be held, by it, at the epoch it was given, and not expired, on the
database's clock. On PostgreSQL the lease's row stays locked until the write commits, so a
standby taking the lease over waits for that write and then sees it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pegkeeper.adapters.store.lease_tables import leases as t
from pegkeeper.domain.leases import Lease, LeaseLost

# the database's clock in unix milliseconds
_NOW_MS = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
}


def db_now_ms(conn: AsyncConnection) -> ColumnElement[int]:
    return literal_column(_NOW_MS[conn.dialect.name])


async def fence(conn: AsyncConnection, lease: Lease) -> None:
    """Inside a write's transaction: raises LeaseLost unless `lease` is still held as given."""
    query = select(t.c.epoch).where(
        t.c.name == lease.name,
        t.c.holder == lease.holder,
        t.c.epoch == lease.epoch,
        t.c.expires_at_ms > db_now_ms(conn),
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    if (await conn.execute(query)).one_or_none() is None:
        raise LeaseLost(
            f"lease {lease.name!r} is no longer held by {lease.holder} at epoch {lease.epoch}: "
            "the write is refused"
        )

"""The last time the store holds on the runtime's clock: where a restarted simulated clock goes
on from, so that nothing stored lies in its future.

Quotes are left out: they expire in wall-clock time whatever clock the runtime keeps.
"""

from __future__ import annotations

from sqlalchemy import Column, func, select

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.store.tables import (
    funding_operation_events,
    hedge_decisions,
    leverage_snapshots,
    liability_events,
    operator_actions,
    order_events,
    position_snapshots,
)

_STAMPED_BY_THE_RUNTIME_CLOCK: tuple[Column[int], ...] = (
    liability_events.c.created_at_ms,
    hedge_decisions.c.created_at_ms,
    order_events.c.created_at_ms,
    position_snapshots.c.created_at_ms,
    operator_actions.c.created_at_ms,
    funding_operation_events.c.created_at_ms,
    leverage_snapshots.c.created_at_ms,
)


async def last_stored_ms(store: SqlStore) -> int | None:
    """The latest time stamped on a stored record, None when the store holds none."""
    latest: list[int] = []
    async with store.engine.connect() as conn:
        for column in _STAMPED_BY_THE_RUNTIME_CLOCK:
            value = (await conn.execute(select(func.max(column)))).scalar()
            if value is not None:
                latest.append(int(value))
    return max(latest, default=None)

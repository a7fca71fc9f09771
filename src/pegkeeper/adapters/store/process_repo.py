"""The process registry as the database keeps it: each beat an upsert stamped with the
database's own clock, so processes on machines whose clocks differ are judged by one clock."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from pegkeeper.adapters.store.equity_ledger import dialect_insert
from pegkeeper.adapters.store.fencing import db_now_ms
from pegkeeper.adapters.store.process_tables import processes as t
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.domain.processes import ProcessInfo, ProcessRecord


class SqlProcessRepository:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    async def heartbeat(self, process: ProcessInfo) -> ProcessRecord:
        said = {
            "name": process.name,
            "host": process.host,
            "pid": process.pid,
            "services": orjson.dumps(list(process.services)).decode(),
            "ops_url": process.ops_url,
        }
        async with self._tx.write() as conn:
            now = db_now_ms(conn)
            insert = dialect_insert(conn, t).values(
                process_id=process.process_id, started_at_ms=now, seen_at_ms=now, **said
            )
            statement = insert.on_conflict_do_update(
                index_elements=[t.c.process_id], set_={**said, "seen_at_ms": now}
            ).returning(*t.c)
            row = (await conn.execute(statement)).one()
        return _record(row._mapping)

    async def recent(self, since_ms: int) -> list[ProcessRecord]:
        query = select(t).where(t.c.seen_at_ms >= since_ms).order_by(t.c.name, t.c.process_id)
        async with self._tx.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row._mapping) for row in rows]

    async def now_ms(self) -> int:
        async with self._tx.read() as conn:
            return int((await conn.execute(select(db_now_ms(conn)))).scalar_one())


def _record(row: Any) -> ProcessRecord:
    info = ProcessInfo(
        process_id=row["process_id"],
        name=row["name"],
        host=row["host"],
        pid=row["pid"],
        services=tuple(orjson.loads(row["services"])),
        ops_url=row["ops_url"],
    )
    return ProcessRecord(info, row["started_at_ms"], row["seen_at_ms"])

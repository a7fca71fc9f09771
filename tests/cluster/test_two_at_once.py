"""Two replicas of the services started at the same instant against an empty database: the
schema is migrated once (the other process waits for it), every lease has one holder, and
both processes are ready: one acting, the other a standby."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from pegkeeper.adapters.store.database import open_store
from tests.cluster.support import cluster_of
from tests.integration.conftest import postgres_database
from tests.waiting import until

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

SERVICES = ("hedger", "liability", "ledger", "peg-monitor", "web")
LEASES = {"hedger:BTC-USD-SWAP", "outbox-relay", "peg-monitor"}  # peg-monitor: its recorder


async def test_two_replicas_at_once_on_an_empty_database(tmp_path: Path) -> None:
    async with postgres_database() as url:
        with cluster_of(tmp_path, url) as cluster:
            first, second = cluster.start(*SERVICES), cluster.start(*SERVICES)
            pair = (first, second)
            await until(
                lambda: all(p.readiness()[0] == 200 for p in pair), "both processes ready", 120
            )
            store = await open_store(url, migrate=False)
            try:
                names = {p.name for p in pair}
                holders = {}
                for lease in LEASES:
                    current = await store.leases.current(lease)
                    assert current is not None and current.epoch == 1, lease
                    holders[lease] = current.holder.rpartition(":")[0]
                assert set(holders.values()) <= names
            finally:
                await store.close()
            # each process says what it holds and what it waits for, and they agree
            for process in pair:
                _, body = process.readiness()
                states = {lease["name"]: lease["state"] for lease in body["leases"]}
                assert set(states) == LEASES
                for lease, state in states.items():
                    assert state == ("held" if holders[lease] == process.name else "waiting")
            connection = await asyncpg.connect(url.replace("+asyncpg", ""))
            try:
                versions = await connection.fetch("SELECT version_num FROM alembic_version")
            finally:
                await connection.close()
            assert [v["version_num"] for v in versions] == ["0020"]
            for process in pair:
                assert "Traceback" not in process.output(), process.output()

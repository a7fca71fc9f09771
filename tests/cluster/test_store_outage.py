"""PostgreSQL unreachable for 30 s under a running cluster (a proxy between the processes and
the database drops every connection and refuses new ones): the hedger stops trading before
its lease can expire and says so in /readyz, then takes its lease again and goes on; nothing
was half written, no order sent twice, no confirmed liability change lost."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from pegkeeper.adapters.store.database import open_store
from tests.cluster.checks import check_the_records, settled
from tests.cluster.flow import LiabilityFlow
from tests.cluster.support import cluster_of
from tests.integration.conftest import postgres_database
from tests.tcp_proxy import tcp_proxy
from tests.waiting import until

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]

OUTAGE_SECONDS = float(os.environ.get("PEGKEEPER_OUTAGE_SECONDS", "30"))
LEASE = "hedger:BTC-USD-SWAP"


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))


async def test_a_store_outage_pauses_trading_and_it_resumes(tmp_path: Path) -> None:
    async with postgres_database() as url:
        parts = urlsplit(url)
        with (
            tcp_proxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy,
            cluster_of(tmp_path, url) as cluster,
        ):
            proxied = _through(url, proxy.port)
            web = cluster.start("web", database_url=proxied)
            cluster.wait_http(web)
            hedger = cluster.start("hedger", database_url=proxied)
            store = await open_store(url, migrate=False)  # the test's own, not cut
            flow = LiabilityFlow(web.http_url, seed=5)
            try:
                await until(lambda: hedger.readiness()[0] == 200, "the hedger ready", 90)
                flow.start()
                await until(lambda: bool(cluster.order_requests()), "a first order", 60)
                before = await store.leases.current(LEASE)
                assert before is not None
                proxy.cut()
                cut_at = time.monotonic()
                await until(lambda: _paused(hedger.readiness()), "readyz saying why", 30)
                status, body = hedger.readiness()
                assert status == 503 and body["status"] == "not ready"
                orders_during = dict(cluster.order_requests())
                await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - cut_at)))
                # nothing was sent while the store could not record it
                assert cluster.order_requests() == orders_during
                proxy.restore()
                await until(lambda: hedger.readiness()[0] == 200, "ready again", 90)
                after = await store.leases.current(LEASE)
                assert after is not None and after.holder == before.holder
                # its lease expired during the outage: it was taken again, at a new epoch
                assert after.epoch > before.epoch
                sent_before = len(cluster.order_requests())
                await until(
                    lambda: len(cluster.order_requests()) > sent_before, "trading again", 120
                )
                flow.stop()
                await settled(cluster, store, flow.balance_cents)
                await check_the_records(cluster, store, flow)
            finally:
                flow.stop()
                await store.close()


def _paused(readiness: tuple[int, dict[str, object]]) -> bool:
    status, body = readiness
    return status == 503 and "the store is unreachable" in str(body.get("detail", ""))

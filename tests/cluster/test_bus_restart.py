"""Redis restarted under a running cluster (a redis-server of the test's own, killed and started
again empty): the liability API keeps taking changes, the hedger keeps hedging from the
database, consumers reconnect and the notices flow again; nothing that moves money depended
on a message lost meanwhile."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from pegkeeper.adapters.store.database import open_store
from tests.cluster.checks import check_the_records, settled
from tests.cluster.flow import LiabilityFlow
from tests.cluster.support import cluster_of
from tests.integration.bus.conftest import RedisServer, free_port
from tests.integration.conftest import postgres_database
from tests.waiting import until

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


async def test_a_redis_restart_loses_nothing_that_moves_money(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (make test installs the machine's Redis)")
    redis = RedisServer(free_port())
    redis.start()
    try:
        async with postgres_database() as url:
            with cluster_of(tmp_path, url, redis_url=redis.url) as cluster:
                web = cluster.start("web")
                cluster.wait_http(web)
                hedger = cluster.start("hedger")
                store = await open_store(url, migrate=False)
                flow = LiabilityFlow(web.http_url, seed=3)
                try:
                    await until(lambda: hedger.readiness()[0] == 200, "the hedger ready", 90)
                    flow.start()
                    await until(lambda: bool(cluster.order_requests()), "a first order", 60)
                    redis.stop()
                    stopped_with = len(flow.recorded)
                    await asyncio.sleep(3)
                    redis.start()  # empty: every stream and group is gone
                    # the wallet's changes went on being recorded while Redis was down
                    assert len(flow.recorded) > stopped_with
                    await until(
                        lambda: "reachable again" in hedger.output(), "the hedger reconnected", 60
                    )
                    sent = len(cluster.order_requests())
                    await until(
                        lambda: len(cluster.order_requests()) > sent, "orders after the restart", 60
                    )
                    flow.stop()
                    await settled(cluster, store, flow.balance_cents)
                    await check_the_records(cluster, store, flow)
                    assert hedger.alive() and web.alive()
                finally:
                    flow.stop()
                    await store.close()
    finally:
        redis.stop()

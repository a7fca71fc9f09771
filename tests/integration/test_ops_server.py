"""The ops server of a process without `web`: /healthz, /readyz (its services, who it is and
its leases, a standby ready) and /metrics (lease gauges) on a port of its own, served by
uvicorn on a real socket; and a taken port refused with the setting named."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import open_store
from pegkeeper.api.grpc.server import ServerStartError
from pegkeeper.api.http.probes import Probes
from pegkeeper.api.metrics import Metrics, MetricSources
from pegkeeper.bootstrap.ops import OpsSetup, ops_server
from pegkeeper.domain.leases import LeaseState, LeaseStatus
from pegkeeper.domain.processes import ProcessInfo
from pegkeeper.services.process_heartbeat import ProcessHeartbeat
from pegkeeper.services.views.dealer import DealerView
from pegkeeper.services.views.health import READY, HealthMonitor

PROCESS = ProcessInfo(
    "host-b:202:bb", "dealer-b", "host-b", 202, ("hedger",), "http://127.0.0.1:9202"
)
HEDGER = "hedger:BTC-USD-SWAP"
FUNDING = "funding"


@dataclass
class Ops:
    client: httpx.AsyncClient
    leases: list[LeaseStatus]  # what the fake lease keeper says; tests change it
    hedger_state: list[str]


async def _ready(state: list[str]) -> str:
    return state[0]


@pytest.fixture
async def ops() -> AsyncIterator[Ops]:
    store = await open_store("sqlite+aiosqlite://")
    leases: list[LeaseStatus] = []
    hedger_state = [READY]
    health = HealthMonitor(["hedger"])
    health.watch("hedger", lambda: _ready(hedger_state))
    probes = Probes(health.readiness, PROCESS, lambda: list(leases))
    metrics = Metrics(
        MetricSources(
            dealer=DealerView(store),
            clock=ManualClock(),
            readiness=health.readiness,
            leases=probes.leases,
        )
    )
    setup = OpsSetup(
        PROCESS,
        probes,
        ProcessHeartbeat(store.processes, PROCESS, ManualClock()),
        metrics,
        ops_server(probes, metrics),
        MemoryBus(),
        "127.0.0.1",
        0,  # any free port
    )
    setup.bind()
    setup.sockets[0].listen()  # requests wait in the backlog until uvicorn serves
    port = setup.sockets[0].getsockname()[1]
    jobs = setup.jobs()
    assert set(jobs) == {"process-heartbeat", "ops", "ops-metrics"}
    tasks = [asyncio.create_task(job) for job in jobs.values()]  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield Ops(client, leases, hedger_state)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        setup.close()
        await store.close()


def status(name: str, state: LeaseState, epoch: int) -> LeaseStatus:
    return LeaseStatus(name, state, "host-a:101:aa", epoch, 1_800_000_000_000)


async def test_healthz_and_nothing_but_the_probes(ops: Ops) -> None:
    health = await ops.client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert (await ops.client.get("/api/v1/dealer")).status_code == 404
    assert (await ops.client.get("/")).status_code == 404


async def test_a_standby_is_ready_and_lists_its_leases(ops: Ops) -> None:
    ops.leases[:] = [status(HEDGER, LeaseState.WAITING, 4), status(FUNDING, LeaseState.WAITING, 1)]
    ready = await ops.client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["services"] == {"hedger": "ready"}
    assert body["detail"] == "standby: waiting for hedger:BTC-USD-SWAP, funding"
    assert body["process"]["name"] == "dealer-b" and body["process"]["services"] == ["hedger"]
    assert body["process"]["id"] == "host-b:202:bb"
    assert body["leases"] == [
        {
            "name": HEDGER,
            "state": "waiting",
            "holder": "host-a:101:aa",
            "epoch": 4,
            "expires_at_ms": 1_800_000_000_000,
            "store_error": "",
        },
        {
            "name": FUNDING,
            "state": "waiting",
            "holder": "host-a:101:aa",
            "epoch": 1,
            "expires_at_ms": 1_800_000_000_000,
            "store_error": "",
        },
    ]


async def test_not_ready_while_the_store_does_not_answer(ops: Ops) -> None:
    unreachable = LeaseStatus(HEDGER, LeaseState.WAITING, "", 0, 0, "OSError: connection refused")
    ops.leases[:] = [unreachable]
    answer = await ops.client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["detail"] == (
        "the store is unreachable, trading paused: OSError: connection refused; "
        "standby: waiting for hedger:BTC-USD-SWAP"
    )


async def test_not_ready_while_a_service_is_not_or_a_lease_is_not_tried(ops: Ops) -> None:
    ops.leases[:] = [status(HEDGER, LeaseState.STOPPED, 4)]
    stopped = await ops.client.get("/readyz")
    assert stopped.status_code == 503 and stopped.json()["status"] == "not ready"
    assert stopped.json()["detail"] == "not trying to hold hedger:BTC-USD-SWAP"
    ops.leases[:] = [status(HEDGER, LeaseState.HELD, 5)]
    ops.hedger_state[0] = "starting: reconciling with the venue"
    starting = await ops.client.get("/readyz")
    assert starting.status_code == 503
    assert starting.json()["services"] == {"hedger": "starting: reconciling with the venue"}
    assert starting.json()["detail"] == "holds hedger:BTC-USD-SWAP (epoch 5)"


def samples(text: str, family: str) -> dict[str, float]:
    found = {}
    for metric in text_string_to_metric_families(text):
        if metric.name == family:
            for sample in metric.samples:
                found[sample.labels.get("lease") or sample.labels.get("service", "")] = sample.value
    return found


async def test_metrics_carry_the_lease_gauges(ops: Ops) -> None:
    ops.leases[:] = [status(HEDGER, LeaseState.HELD, 7), status(FUNDING, LeaseState.WAITING, 3)]
    response = await ops.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert samples(text, "pegkeeper_lease_held") == {HEDGER: 1.0, FUNDING: 0.0}
    assert samples(text, "pegkeeper_lease_epoch") == {HEDGER: 7.0, FUNDING: 3.0}
    assert samples(text, "pegkeeper_service_ready") == {"hedger": 1.0}


async def test_a_taken_ops_port_is_refused_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        probes = Probes(HealthMonitor([]).readiness, PROCESS)
        store = await open_store("sqlite+aiosqlite://")
        try:
            metrics = Metrics(MetricSources(DealerView(store), ManualClock(), probes.readiness))
            setup = OpsSetup(
                PROCESS,
                probes,
                ProcessHeartbeat(store.processes, PROCESS, ManualClock()),
                metrics,
                ops_server(probes, metrics),
                None,
                "127.0.0.1",
                port,
            )
            with pytest.raises(ServerStartError) as refused:
                setup.bind()
        finally:
            await store.close()
    assert str(refused.value).startswith(
        f"cannot listen on 127.0.0.1:{port} ([cluster] ops_port or PEGKEEPER_CLUSTER__OPS_PORT)"
    )

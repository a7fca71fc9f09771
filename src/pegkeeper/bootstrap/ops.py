"""Every process observable (specs/distributed.md): whatever services it runs, it beats in the
process registry, and with `[cluster] ops_port` it serves /healthz, /readyz (its leases
included) and /metrics on that port of its own, beside the web port when it runs `web`."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import uvicorn

from pegkeeper.adapters.clock import RealClock
from pegkeeper.api.http.probes import Probes, create_ops_app
from pegkeeper.api.metrics import Metrics
from pegkeeper.bootstrap.cluster import process_name
from pegkeeper.bootstrap.process import bind_listener
from pegkeeper.bootstrap.web import build_metrics, serve_http
from pegkeeper.config import Settings
from pegkeeper.domain.processes import ProcessInfo
from pegkeeper.ports import Bus
from pegkeeper.services.process_heartbeat import DEFAULT_INTERVAL_SECONDS, ProcessHeartbeat
from pegkeeper.services.views.health import HealthMonitor, LeaseSource

if TYPE_CHECKING:
    from pegkeeper.bootstrap.runtime import Runtime

OPS_PORT_SETTING = "[cluster] ops_port or PEGKEEPER_CLUSTER__OPS_PORT"
_ID_LENGTH = 64  # the leases' holder column and the registry's name column
_ANY_ADDRESS = {"", "0.0.0.0", "::"}


@dataclass
class OpsSetup:
    process: ProcessInfo
    probes: Probes
    heartbeat: ProcessHeartbeat
    metrics: Metrics | None  # None: neither `web` nor an ops port serves them
    server: uvicorn.Server | None  # None: no ops port
    bus: Bus | None  # its metrics count the bus's events here (None: `web` does, or none)
    host: str = ""
    port: int = 0
    sockets: list[socket.socket] = field(default_factory=list)

    def bind(self) -> None:
        """Binds the ops port now, before anything is announced; raises ServerStartError
        naming `[cluster] ops_port` when it is taken."""
        if self.server is not None and not self.sockets:
            self.sockets.append(bind_listener(self.host, self.port, OPS_PORT_SETTING))

    def jobs(self) -> dict[str, Awaitable[object]]:
        jobs: dict[str, Awaitable[object]] = {"process-heartbeat": self.heartbeat.run()}
        if self.server is not None:
            jobs["ops"] = serve_http(self.server, self.sockets)
        if self.bus is not None and self.metrics is not None:
            jobs["ops-metrics"] = self.metrics.follow(self.bus)
        return jobs

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


def describe_process(settings: Settings, services: list[str], process_id: str) -> ProcessInfo:
    """Who this process is; `process_id` is the holder of its leases (bootstrap.cluster)."""
    return ProcessInfo(
        process_id=process_id,
        name=process_name(settings)[:_ID_LENGTH],
        host=socket.gethostname(),
        pid=os.getpid(),
        services=tuple(services),
        ops_url=_ops_url(settings, services),
    )


def build_ops(
    runtime: Runtime,
    services: list[str],
    health: HealthMonitor,
    *,
    heartbeat_seconds: float = DEFAULT_INTERVAL_SECONDS,
) -> OpsSetup:
    """The process's leases are those its cluster keeps (runtime.cluster)."""
    settings = runtime.settings
    leases: LeaseSource = runtime.cluster.leases
    process = describe_process(settings, services, runtime.cluster.holder)
    probes = Probes(health.readiness, process, leases)
    cluster = settings.cluster
    serves = cluster.ops_port != 0
    metrics = None
    if serves or "web" in services:
        metrics = build_metrics(runtime, services, health, leases)
    server = None
    if serves:
        assert metrics is not None
        server = ops_server(probes, metrics)
    heartbeat = ProcessHeartbeat(
        runtime.store.processes, process, RealClock(), interval_seconds=heartbeat_seconds
    )
    bus = runtime.bus if serves and "web" not in services else None
    return OpsSetup(
        process, probes, heartbeat, metrics, server, bus, cluster.ops_host, cluster.ops_port
    )


def ops_server(probes: Probes, metrics: Metrics) -> uvicorn.Server:
    """The ops app on uvicorn, served on sockets bound beforehand (OpsSetup.bind)."""
    config = uvicorn.Config(
        create_ops_app(probes, metrics),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


def _ops_url(settings: Settings, services: list[str]) -> str:
    if settings.cluster.ops_port:
        return f"http://{_url_host(settings.cluster.ops_host)}:{settings.cluster.ops_port}"
    if "web" in services:
        return f"http://{_url_host(settings.http.host)}:{settings.http.port}"
    return ""


def _url_host(host: str) -> str:
    if host in _ANY_ADDRESS:
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host

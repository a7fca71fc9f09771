"""Settings of running pegkeeper as several processes (`[cluster]`, `[bus]`, `[tracing]`).

One process on SQLite and the in-memory bus needs none of them. Several processes share
PostgreSQL (`[store] database_url`) and Redis (`[bus] kind = "redis"`); see specs/distributed.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClusterSettings(_Section):
    # how this process is named in /readyz, the dashboard and the leases (default: host-pid)
    process_name: str = ""
    # a singleton's lease (a hedger leg, funding, ...): taken over by a standby this long after
    # its holder stopped renewing it
    lease_ttl_seconds: float = Field(15.0, ge=1, le=600)
    # /healthz, /readyz and /metrics of this process on their own port (0: only with `web`)
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(0, ge=0, le=65535)


class BusSettings(_Section):
    kind: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream_prefix: str = "pegkeeper"  # streams are named "<prefix>:<topic>"
    stream_maxlen: int = Field(100_000, ge=100)  # each stream trimmed to about this many entries
    # a message a dead consumer of a group left unacknowledged is claimed after this long
    claim_idle_seconds: float = Field(30.0, gt=0)


class TracingSettings(_Section):
    otlp_endpoint: str = ""  # e.g. "http://127.0.0.1:4318"; empty: tracing off
    service_name: str = "pegkeeper"

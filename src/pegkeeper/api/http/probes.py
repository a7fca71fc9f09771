"""What every process answers, on the web port and on its own ops port alike: /healthz (it
runs), /readyz (its services and leases, 503 while not ready) and /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse

from pegkeeper import __version__
from pegkeeper.api.metrics import CONTENT_TYPE, Metrics
from pegkeeper.domain.leases import LeaseStatus
from pegkeeper.domain.processes import ProcessInfo
from pegkeeper.services.views.health import LeaseSource, Readiness, process_readiness


@dataclass(frozen=True, slots=True)
class Probes:
    readiness: Readiness
    process: ProcessInfo | None = None  # None: /readyz does not name the process
    leases: LeaseSource = field(default=list)


def probes_router(probes: Probes) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        state = await process_readiness(probes.readiness, probes.leases)
        body: dict[str, Any] = {
            "status": "ready" if state.ready else "not ready",
            "services": state.services,
            "leases": [lease_status(s) for s in state.leases],
            "detail": state.detail,
        }
        if probes.process is not None:
            body["process"] = process_info(probes.process)
        return JSONResponse(body, status_code=200 if state.ready else 503)

    return router


def metrics_router(metrics: Metrics) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics")
    async def export() -> Response:
        return Response(await metrics.render(), media_type=CONTENT_TYPE)

    return router


def create_ops_app(probes: Probes, metrics: Metrics) -> FastAPI:
    """The ops server of a process: the probes and the metrics, nothing else."""
    app = FastAPI(title="pegkeeper ops", version=__version__, docs_url=None, redoc_url=None)
    app.include_router(probes_router(probes))
    app.include_router(metrics_router(metrics))
    return app


def lease_status(status: LeaseStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "state": status.state.value,
        "holder": status.holder,
        "epoch": status.epoch,
        "expires_at_ms": status.expires_at_ms,
        "store_error": status.store_error,
    }


def process_info(process: ProcessInfo) -> dict[str, Any]:
    return {
        "id": process.process_id,
        "name": process.name,
        "host": process.host,
        "pid": process.pid,
        "services": list(process.services),
        "ops_url": process.ops_url,
    }

"""The cluster on the dashboard: GET /api/v1/cluster, every process heard from lately (stale
or not) and every lease with its holder, read-only like the dashboard's other reads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pegkeeper.api.http.probes import process_info
from pegkeeper.services.views.cluster import ClusterStatus, ClusterView, LeaseRow, ProcessRow


def cluster_router(view: ClusterView) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/cluster")
    async def cluster() -> dict[str, Any]:
        return cluster_body(await view.status())

    return router


def cluster_body(status: ClusterStatus) -> dict[str, Any]:
    return {
        "now_ms": status.now_ms,
        "stale_after_ms": status.stale_after_ms,
        "processes": [_process(row) for row in status.processes],
        "leases": [_lease(row) for row in status.leases],
    }


def _process(row: ProcessRow) -> dict[str, Any]:
    return {
        **process_info(row.record.info),
        "started_at_ms": row.record.started_at_ms,
        "seen_at_ms": row.record.seen_at_ms,
        "seen_ago_ms": row.seen_ago_ms,
        "stale": row.stale,
    }


def _lease(row: LeaseRow) -> dict[str, Any]:
    lease = row.lease
    return {
        "name": lease.name,
        "holder": lease.holder,
        "holder_name": row.holder_name,
        "epoch": lease.epoch,
        "expires_at_ms": lease.expires_at_ms,
        "expires_in_ms": row.expires_in_ms,
        "expired": row.expired,
    }

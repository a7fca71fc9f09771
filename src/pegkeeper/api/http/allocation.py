"""GET /api/v1/allocation: the legs of the hedge with their weights now, and the carry
allocation's last decisions with the rule that made each, what it gained and cost, and what it
saw on every leg. Amounts are decimal strings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from pegkeeper.api.http.serialize import dec
from pegkeeper.domain.carry_records import CarryDecisionRecord, CarryLegInputs
from pegkeeper.services.views.allocation import AllocationStatus, AllocationView, LegRow


def allocation_router(view: AllocationView) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/allocation")
    async def get_allocation(limit: int = Query(20, ge=1, le=500)) -> dict[str, Any]:
        return allocation_body(await view.status(limit))

    return router


def allocation_body(status: AllocationStatus) -> dict[str, Any]:
    return {
        "carry": status.carry,
        "version": status.version,
        "updated_at_ms": status.updated_at_ms,
        "legs": [_leg(row) for row in status.legs],
        "decisions": [_decision(d) for d in status.decisions],
    }


def _leg(row: LegRow) -> dict[str, Any]:
    return {
        "instrument_id": row.instrument_id,
        "venue": row.venue,
        "configured_weight": dec(row.configured_weight),
        "weight": dec(row.weight),
    }


def _decision(decision: CarryDecisionRecord) -> dict[str, Any]:
    move = None
    if decision.move_to is not None:
        move = {
            "from": decision.move_from,
            "to": decision.move_to,
            "share": dec(decision.move_share),
        }
    return {
        "decision_id": decision.decision_id,
        "created_at_ms": decision.created_at_ms,
        "rule": decision.rule,
        "version": decision.version,
        "changed": decision.changed,
        "move": move,
        "gain_bps": dec(decision.gain_bps),
        "cost_bps": dec(decision.cost_bps),
        "legs": [_seen(leg) for leg in decision.legs],
    }


def _seen(leg: CarryLegInputs) -> dict[str, Any]:
    return {
        "leg": leg.leg,
        "instrument_id": leg.instrument_id,
        "weight_before": dec(leg.weight_before),
        "weight_after": dec(leg.weight_after),
        "carry_per_year": dec(leg.carry_per_year),
        "net_carry_per_year": dec(leg.net_carry_per_year),
        "trade_cost_bps": dec(leg.trade_cost_bps),
        "next_rate": dec(leg.next_rate),
        "mean_rate": dec(leg.mean_rate),
        "settlements": leg.settlements,
        "future_usd": dec(leg.future_usd),
        "spot_usd": dec(leg.spot_usd),
        "expiry_ms": leg.expiry_ms,
    }

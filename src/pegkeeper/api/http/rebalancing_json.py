"""JSON shapes of the rebalancing endpoints. Decimals travel as strings, as elsewhere; amounts
are shares for a stock and USD for cash ("unit" says which)."""

from __future__ import annotations

from typing import Any

from pegkeeper.api.http.serialize import dec
from pegkeeper.api.http.serialize_web import operator_action
from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.move_records import (
    MoveCost,
    MoveEvent,
    MoveRecord,
    ProposalRecord,
    StepIntent,
)
from pegkeeper.services.views.rebalancing import (
    InventoryRow,
    MoveDetail,
    MoveRow,
    RebalancingOverview,
    SwitchRow,
    Transfer,
)


def unit_of(asset: str) -> str:
    return "USD" if asset == CASH_ASSET else "shares"


def inventory_row(row: InventoryRow) -> dict[str, Any]:
    s = row.snapshot
    return {
        "asset": s.asset,
        "unit": unit_of(s.asset),
        "onchain": dec(s.onchain),
        "broker": dec(s.broker),
        "in_flight": dec(s.in_flight),
        "onchain_share": dec(s.onchain_share),
        "target": dec(s.target),
        "deviation": dec(s.deviation),
        "band_low": dec(row.band_low),
        "band_high": dec(row.band_high),
        "outside_band": row.outside_band,
        "off_target": dec(row.off_target),
        "block_number": s.block_number,
        "broker_stamp_ms": s.broker_stamp_ms,
        "read_at_ms": s.created_at_ms,
    }


def proposal(record: ProposalRecord) -> dict[str, Any]:
    p = record.proposal
    return {
        "proposal_id": record.proposal_id,
        "asset": p.asset,
        "kind": p.kind.value,
        "direction": p.direction.value,
        "amount": dec(p.amount),
        "unit": unit_of(p.asset),
        "reason": p.reason,
        "unblocks": list(p.unblocks),
        "status": record.status.value,
        "created_at_ms": record.created_at_ms,
        "decided_by": record.decided_by or None,
        "decided_at_ms": record.decided_at_ms,
        "move_id": record.move_id or None,
    }


def move_row(row: MoveRow) -> dict[str, Any]:
    m = row.record
    return {
        **_move_head(m),
        "route": {"wrapped": m.route.wrapped, "bridged": m.route.bridged},
        "sequence": [s.value for s in m.plan.sequence],
        "waiting_for": row.waiting_for.value if row.waiting_for else None,
        "deadline_ms": row.deadline_ms,
        "overdue": row.overdue,
        "halt": m.halt.value if m.halt else None,
        "halt_what": row.halt_what or None,
        "halt_action": row.halt_action or None,
        "error": m.error or None,
        "created_at_ms": m.created_at_ms,
        "updated_at_ms": m.updated_at_ms,
        "step_at_ms": m.step_at_ms,
        "proposal_id": m.proposal_id or None,
        "steps": [step_intent(i) for i in m.steps],
        "cost_usd": dec(row.cost_usd),
        "costs": [cost(c) for c in row.costs],
    }


def _move_head(m: MoveRecord) -> dict[str, Any]:
    return {
        "move_id": m.move_id,
        "kind": m.kind.value,
        "asset": m.asset,
        "amount": dec(m.amount),
        "unit": unit_of(m.asset),
        "step": m.step.value,
        "status": m.status.value,
    }


def step_intent(intent: StepIntent) -> dict[str, Any]:
    return {
        "step": intent.step.value,
        "status": intent.status.value,
        "request_id": intent.request_id or None,
        "tx_hash": intent.tx_hash or None,
        "replaced_tx_hashes": list(intent.replaced_tx_hashes),
        "signer": intent.signer or None,
        "nonce": intent.nonce,
        "amount_asked": dec(intent.amount_asked),
        "amount_received": dec(intent.amount_received),
        "detail": intent.detail or None,
        "created_at_ms": intent.created_at_ms,
        "updated_at_ms": intent.updated_at_ms,
    }


def cost(c: MoveCost) -> dict[str, Any]:
    return {
        "step": c.step.value,
        "kind": c.kind.value,
        "amount_usd": dec(c.amount_usd),
        "created_at_ms": c.created_at_ms,
        "detail": c.detail or None,
    }


def event(e: MoveEvent) -> dict[str, Any]:
    return {
        "step": e.step.value,
        "status": e.status.value,
        "message": e.message,
        "halt": e.halt.value if e.halt else None,
        "created_at_ms": e.created_at_ms,
    }


def switch(row: SwitchRow) -> dict[str, Any]:
    return {
        "asset": row.asset,
        "enabled": row.enabled,
        "executes": row.executes,
        "by": row.by or None,
        "since_ms": row.since_ms,
    }


def overview(view: RebalancingOverview) -> dict[str, Any]:
    return {
        "now_ms": view.now_ms,
        "inventory": [inventory_row(r) for r in view.inventory],
        "proposals": [proposal(p) for p in view.proposals],
        "moves": {
            "active": [move_row(r) for r in view.active],
            "stuck": [move_row(r) for r in view.stuck],
        },
        "history": {
            "moves": [move_row(r) for r in view.history],
            "next_before_ms": view.next_before_ms,
        },
        "switches": [switch(s) for s in view.switches],
    }


def move_detail(detail: MoveDetail) -> dict[str, Any]:
    return {
        **move_row(detail.row),
        "events": [event(e) for e in detail.events],
        "decisions": [operator_action(a) for a in detail.decisions],
    }


def transfer(t: Transfer) -> dict[str, Any]:
    """A chain transaction or broker request of a move, as the transfers page lists it."""
    m = t.move
    return {
        "move_id": m.move_id,
        "kind": m.kind.value,
        "asset": m.asset,
        "unit": unit_of(m.asset),
        "move_amount": dec(m.amount),
        "move_step": m.step.value,
        "move_status": m.status.value,
        **step_intent(t.intent),  # its "step" and "status" are the step's
    }

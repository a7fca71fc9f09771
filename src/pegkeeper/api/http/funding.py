"""GET /api/v1/funding: the funding manager's accounts, money moving and moved, alerts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query

from pegkeeper.api.http.serialize import action_needed, dec, risk
from pegkeeper.domain.collateral import (
    AlertRecord,
    CollateralDecisionRecord,
    FeeBump,
    LeverageSnapshot,
    OperationRecord,
)
from pegkeeper.domain.roll import RollRecord
from pegkeeper.services.views.collateral import AccountView, CollateralStatus, CollateralView
from pegkeeper.services.views.risk import of_reading


def funding_router(view: CollateralView) -> APIRouter:
    """Amounts are decimal strings; `live` is the funding manager's latest reading of each
    collateral account, `last_snapshot` the latest one stored."""
    router = APIRouter()

    @router.get("/api/v1/funding")
    async def get_funding(limit: int = Query(20, ge=1, le=200)) -> dict[str, Any]:
        return funding_status(await view.status(limit))

    return router


def funding_status(status: CollateralStatus) -> dict[str, Any]:
    return {
        "enabled": status.enabled,
        "accounts": [_account(a) for a in status.accounts],
        "wallet": status.wallet,
        "wallet_balance_sats": status.wallet_balance_sats,
        "open_operations": [operation(o) for o in status.open_operations],
        "operations": [operation(o) for o in status.recent_operations],
        "fee_bumps": [_bump(b) for b in status.fee_bumps],
        "decisions": [_decision(d) for d in status.decisions],
        "alerts": [_alert(a) for a in status.alerts],
        "rolls": [_roll(r) for r in status.rolls],
    }


def _account(view: AccountView) -> dict[str, Any]:
    """`live` is the collateral manager's own reading; `risk` the freshest reading of the
    account, the leverage and liquidation `/api/v1/dealer` and the dashboard show too."""
    state = view.state
    body: dict[str, Any] = {
        "venue": view.venue,
        "currency": view.currency,
        "policy": view.policy,
        "live": None,
    }
    if state is not None:
        figures = of_reading(state)
        body["live"] = {
            "read_at_ms": state.read_at_ms,
            "liability_cents": state.liability_cents,
            "exposure_cents": state.inputs.exposure_cents,
            "hedge_ratio": dec(_q(state.hedge_ratio)),
            "mark_price_usd": dec(figures.mark_price_usd),
            "equity": dec(figures.equity),
            "funding_balance": dec(state.balances.funding_balance),
            "notional": dec(_q(state.reading.notional, "0.00000001")),
            "leverage": dec(figures.leverage),
            "liquidation_price_usd": dec(figures.liquidation_price_usd),
            "liquidation_source": figures.liquidation_source.value,
            "liquidation_distance_pct": dec(figures.liquidation_distance_pct),
        }
    body["risk"] = risk(view.risk)
    body["last_snapshot"] = _snapshot(view.last_snapshot)
    return body


def _snapshot(s: LeverageSnapshot | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "created_at_ms": s.created_at_ms,
        "leverage": dec(s.leverage),
        "liquidation_price_usd": dec(s.liquidation_price_usd),
        "liquidation_source": s.liquidation_source,
        "liquidation_distance_pct": dec(s.distance_pct),
        "mark_price_usd": dec(s.mark_price_usd),
    }


def operation(record: OperationRecord) -> dict[str, Any]:
    """`action_needed`: what an operator does about it, for a held deposit (else null)."""
    op = record.operation
    return {
        "operation_id": op.operation_id,
        "venue": op.venue,
        "kind": op.kind.value,
        "currency": op.currency,
        "amount": dec(op.amount),
        "fee": dec(op.fee),
        "address": op.address or None,
        "state": record.state.value,
        "venue_id": record.venue_id or None,
        "tx_id": record.tx_id or None,
        "message": record.message,
        "action_needed": action_needed(record),
        "decision_id": op.decision_id,
        "correlation_id": op.correlation_id,
        "created_at_ms": op.created_at_ms,
        "updated_at_ms": record.updated_at_ms,
    }


def _bump(b: FeeBump) -> dict[str, Any]:
    return {
        "operation_id": b.operation_id,
        "old_tx_id": b.old_tx_id,
        "new_tx_id": b.new_tx_id,
        "old_fee_rate_sat_vb": dec(b.old_fee_rate_sat_vb),
        "new_fee_rate_sat_vb": dec(b.new_fee_rate_sat_vb),
        "leverage": dec(b.leverage),
        "created_at_ms": b.created_at_ms,
    }


def _decision(d: CollateralDecisionRecord) -> dict[str, Any]:
    return {
        "decision_id": d.decision_id,
        "correlation_id": d.correlation_id,
        "created_at_ms": d.created_at_ms,
        "trigger": d.trigger,
        "policy": d.policy,
        "rule": d.rule,
        "action": d.action,
        "amount": dec(d.amount),
        "venue": d.venue,
        "currency": d.currency,
        "liability_cents": d.liability_cents,
        "exposure_cents": d.exposure_cents,
        "collateral": dec(d.collateral),
        "funding_balance": dec(d.funding_balance),
        "price_usd": dec(d.price_usd),
        "leverage": dec(d.leverage),
        "outcome": d.outcome,
    }


def _alert(record: AlertRecord) -> dict[str, Any]:
    a = record.alert
    return {
        "alert_id": a.alert_id,
        "kind": a.kind.value,
        "severity": a.severity.value,
        "title": a.title,
        "message": a.message,
        "details": a.details,
        "created_at_ms": a.created_at_ms,
        "delivered": record.delivered,
        "error": record.error,
    }


def _roll(r: RollRecord) -> dict[str, Any]:
    return {
        "roll_id": r.roll_id,
        "decision_id": r.decision_id,
        "created_at_ms": r.created_at_ms,
        "from_instrument_id": r.from_instrument_id,
        "to_instrument_id": r.to_instrument_id,
        "size_contracts": dec(r.size_contracts),
        "open_client_order_id": r.open_client_order_id,
        "close_client_order_id": r.close_client_order_id,
    }


def _q(value: Decimal | None, places: str = "0.0001") -> Decimal | None:
    return None if value is None else value.quantize(Decimal(places))

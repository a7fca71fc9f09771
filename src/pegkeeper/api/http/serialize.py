"""JSON shapes of the HTTP API. Decimals travel as strings so that no digit is lost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pegkeeper.domain.collateral import OperationRecord, OperationState, held_deposit_action
from pegkeeper.domain.ledger_sync import LedgerReadiness
from pegkeeper.domain.liability import LiabilityEvent
from pegkeeper.domain.orders import Fill
from pegkeeper.domain.records import DecisionRecord, OrderRecord
from pegkeeper.services.hedging.control import HedgingState
from pegkeeper.services.views.dealer import DealerStatus, OrderView
from pegkeeper.services.views.risk import RiskFigures


def dec(value: Decimal | None) -> str | None:
    """A decimal as JSON carries it: a string of every digit, never in exponent form."""
    return None if value is None else f"{value:f}"


def action_needed(record: OperationRecord) -> str | None:
    """What an operator does about a funding operation: a held deposit's settlement."""
    if record.state is not OperationState.HELD:
        return None
    return held_deposit_action(record.operation.operation_id)


def liability_event(event: LiabilityEvent) -> dict[str, Any]:
    return {
        "id": event.event_id,
        "seq": event.seq,
        "delta_cents": event.delta_cents,
        "liability_cents": event.balance_after_cents,
        "memo": event.memo,
        "source": event.source,
        "correlation_id": event.correlation_id,
        "created_at_ms": event.created_at_ms,
    }


def decision(record: DecisionRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "decision_id": record.decision_id,
        "correlation_id": record.correlation_id,
        "created_at_ms": record.created_at_ms,
        "trigger": record.trigger,
        "policy": record.policy,
        "rule": record.rule,
        "action": record.action,
        "size_contracts": dec(record.size_contracts),
        "instrument_id": record.instrument_id,
        "liability_cents": record.liability_cents,
        "exposure_cents": record.exposure_cents,
        "position_contracts": dec(record.position_contracts),
        "hedge_ratio": dec(record.hedge_ratio),
        "btc_price_usd": dec(record.btc_price_usd),
    }


def dealer(status: DealerStatus) -> dict[str, Any]:
    """Leverage, liquidation and the mark come from `risk`, the freshest reading of the
    collateral account (the figures `/api/v1/funding` shows); the rest from the hedger's last
    position snapshot, as of `as_of_ms`."""
    position, figures = status.position, status.risk
    return {
        "liability_cents": status.liability_cents,
        "exposure_cents": status.exposure_cents,
        "hedge_ratio": dec(status.hedge_ratio),
        "position_contracts": dec(position.size_contracts) if position else "0",
        "instrument_id": position.instrument_id if position else None,
        "btc_price_usd": dec(figures.mark_price_usd) if figures else None,
        "collateral_btc": dec(position.collateral) if position else None,
        "funding_btc": dec(position.funding_balance) if position else None,
        "leverage": dec(figures.leverage) if figures else None,
        "liquidation_price_usd": dec(figures.liquidation_price_usd) if figures else None,
        "as_of_ms": position.created_at_ms if position else None,
        "risk": risk(figures),
        "hedging": hedging_state(status.hedging) if status.hedging else None,
        "orders_in_flight": [in_flight(o, status.age_ms(o)) for o in status.in_flight],
        "last_decision": decision(status.last_decision),
        "ledger": ledger(status.ledger),
    }


def risk(figures: RiskFigures | None) -> dict[str, Any] | None:
    """Rounded once, where the figures are made (services/views/risk.py)."""
    if figures is None:
        return None
    return {
        "as_of_ms": figures.as_of_ms,
        "source": figures.source.value,
        "currency": figures.currency,
        "mark_price_usd": dec(figures.mark_price_usd),
        "equity": dec(figures.equity),
        "leverage": dec(figures.leverage),
        "liquidation_price_usd": dec(figures.liquidation_price_usd),
        "liquidation_source": figures.liquidation_source.value,
        "liquidation_distance_pct": dec(figures.liquidation_distance_pct),
    }


def hedging_state(state: HedgingState) -> dict[str, Any]:
    return {
        "paused": state.paused,
        "by": state.by or None,
        "since_ms": state.since_ms or None,
        "note": state.note,
    }


def in_flight(record: OrderRecord, age_ms: int | None) -> dict[str, Any]:
    intent = record.intent
    return {
        "client_order_id": intent.client_order_id,
        "instrument_id": intent.instrument_id,
        "side": intent.side.value if intent.side else None,
        "size_contracts": dec(intent.size_contracts),
        "state": record.state.value,
        "created_at_ms": intent.created_at_ms,
        "age_ms": age_ms,
    }


def ledger(readiness: LedgerReadiness | None) -> dict[str, Any] | None:
    if readiness is None:
        return None
    backlog = readiness.backlog
    return {
        "source": readiness.source,
        "ready": readiness.ready,
        "reason": readiness.reason,
        "unpaired_transactions": backlog.unpaired,
        "unposted_trades": backlog.unposted,
        "rejected_transactions": backlog.rejected,
        "last_read_ms": readiness.last_poll_ms,
        "last_error": readiness.last_error,
    }


def fill(item: Fill) -> dict[str, Any]:
    return {
        "fill_id": item.fill_id,
        "size_contracts": dec(item.size_contracts),
        "price_usd": dec(item.price_usd),
        "fee": dec(item.fee),
        "fee_currency": item.fee_currency,
        "ts_ms": item.ts_ms,
    }


def order(view: OrderView) -> dict[str, Any]:
    record = view.order
    intent = record.intent
    return {
        "client_order_id": intent.client_order_id,
        "venue_order_id": record.venue_order_id or None,
        "instrument_id": intent.instrument_id,
        "kind": intent.kind.value,
        "side": intent.side.value if intent.side else None,
        "size_contracts": dec(intent.size_contracts),
        "state": record.state.value,
        "filled_contracts": dec(record.filled_contracts),
        "avg_price_usd": dec(record.avg_price_usd),
        "message": record.message,
        "correlation_id": intent.correlation_id,
        "created_at_ms": intent.created_at_ms,
        "updated_at_ms": record.updated_at_ms,
        "decision": decision(view.decision),
        "fills": [fill(f) for f in view.fills],
    }

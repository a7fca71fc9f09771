"""JSON shapes of the dashboard's endpoints. Decimals travel as strings, times as ms."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pegkeeper.api.http.serialize import (
    action_needed,
    dec,
    decision,
    fill,
    liability_event,
    order,
)
from pegkeeper.domain.audit import AlertState, AuditTrail, OrderStateChange
from pegkeeper.domain.collateral import OperationKind, OperationRecord
from pegkeeper.domain.operator import OperatorAction
from pegkeeper.domain.pnl import DealerPnl
from pegkeeper.domain.quotes import Quote
from pegkeeper.domain.records import PositionSnapshot
from pegkeeper.services.views.dashboard import (
    DealerPoint,
    OrderDetail,
    OrderRow,
    PnlReport,
    liquidation_distance,
)


def alert(item: AlertState) -> dict[str, Any]:
    a, ack = item.record.alert, item.acknowledged
    return {
        "alert_id": a.alert_id,
        "kind": a.kind.value,
        "severity": a.severity.value,
        "title": a.title,
        "message": a.message,
        "created_at_ms": a.created_at_ms,
        "state": item.state,
        "delivered": item.record.delivered,
        "error": item.record.error,
        "acknowledged_by": ack.operator if ack else None,
        "acknowledged_at_ms": ack.created_at_ms if ack else None,
    }


def transfer(record: OperationRecord) -> dict[str, Any]:
    """A movement of money with where it went: between the venue's accounts, from the
    operator's wallet to the venue (deposit), from the venue to an address (withdrawal)."""
    op = record.operation
    if op.kind.is_transfer:
        source, destination = op.kind.accounts
    elif op.kind is OperationKind.DEPOSIT:
        source, destination = "wallet", "funding"
    else:
        source, destination = "funding", op.address
    return {
        "operation_id": op.operation_id,
        "kind": op.kind.value,
        "amount": dec(op.amount),
        "currency": op.currency,
        "from": source,
        "to": destination,
        "state": record.state.value,
        "tx_id": record.tx_id or None,
        "message": record.message,
        "action_needed": action_needed(record),
        "correlation_id": op.correlation_id,
        "created_at_ms": op.created_at_ms,
        "updated_at_ms": record.updated_at_ms,
    }


def operator_action(action: OperatorAction) -> dict[str, Any]:
    return {
        "action_id": action.action_id,
        "created_at_ms": action.created_at_ms,
        "operator": action.operator,
        "action": action.action.value,
        "target": action.target,
        "note": action.note,
        "result": action.result.value,
        "detail": action.detail,
        "correlation_id": action.correlation_id,
        "client_address": action.client_address,
    }


def position(snapshot: PositionSnapshot) -> dict[str, Any]:
    return {
        "ts_ms": snapshot.created_at_ms,
        "correlation_id": snapshot.correlation_id,
        "instrument_id": snapshot.instrument_id,
        "size_contracts": dec(snapshot.size_contracts),
        "avg_price_usd": dec(snapshot.avg_price_usd),
        "mark_price_usd": dec(snapshot.mark_price_usd),
        "exposure_cents": snapshot.exposure_cents,
        "liquidation_price_usd": dec(snapshot.liquidation_price_usd),
        "liquidation_distance": dec(liquidation_distance(snapshot)),
        "collateral": dec(snapshot.collateral),
        "collateral_available": dec(snapshot.collateral_available),
        "funding_balance": dec(snapshot.funding_balance),
        "leverage": dec(snapshot.leverage),
    }


def history_point(point: DealerPoint) -> dict[str, Any]:
    p = point.position
    return {
        "ts_ms": point.ts_ms,
        "liability_cents": point.liability_cents,
        "exposure_cents": p.exposure_cents if p else 0,
        "mark_price_usd": dec(p.mark_price_usd) if p else None,
        "liquidation_price_usd": dec(p.liquidation_price_usd) if p else None,
        "liquidation_distance": dec(liquidation_distance(p)),
        "leverage": dec(p.leverage) if p else None,
    }


def order_row(row: OrderRow) -> dict[str, Any]:
    return {
        **order(row.view),
        "liability_events": [liability_event(e) for e in row.liability_events],
    }


def order_state(change: OrderStateChange) -> dict[str, Any]:
    return {
        "state": change.state.value,
        "venue_order_id": change.venue_order_id or None,
        "filled_contracts": dec(change.filled_contracts),
        "avg_price_usd": dec(change.avg_price_usd),
        "message": change.message,
        "ts_ms": change.created_at_ms,
    }


def order_detail(detail: OrderDetail) -> dict[str, Any]:
    return {**order_row(detail.row), "states": [order_state(s) for s in detail.states]}


def trail(audit: AuditTrail) -> dict[str, Any]:
    states: dict[str, list[dict[str, Any]]] = {}
    for change in audit.order_states:
        states.setdefault(change.client_order_id, []).append(order_state(change))
    return {
        "correlation_id": audit.correlation_id,
        "liability_events": [liability_event(e) for e in audit.liability_events],
        "decisions": [decision(d) for d in audit.decisions],
        "orders": [
            {
                "client_order_id": o.intent.client_order_id,
                "instrument_id": o.intent.instrument_id,
                "kind": o.intent.kind.value,
                "side": o.intent.side.value if o.intent.side else None,
                "size_contracts": dec(o.intent.size_contracts),
                "decision_id": o.intent.decision_id,
                "state": o.state.value,
                "created_at_ms": o.intent.created_at_ms,
                "states": states.get(o.intent.client_order_id, []),
            }
            for o in audit.orders
        ],
        "fills": [fill(f) | {"client_order_id": f.client_order_id} for f in audit.fills],
        "positions": [position(p) for p in audit.positions],
        "operator_actions": [operator_action(a) for a in audit.operator_actions],
    }


def quote(item: Quote) -> dict[str, Any]:
    return {
        "quote_id": item.quote_id,
        "direction": item.direction.value,
        "immediate_execution": item.immediate_execution,
        "amount_sats": item.amount_sats,
        "amount_cents": item.amount_cents,
        "fee_rate": dec(item.fee_rate),
        "fee_cents": dec(item.fee_cents),
        "book_source": item.book_source,
        "book_ts_ms": item.book_ts_ms,
        "created_at_ms": item.created_at_ms,
        "expires_at_ms": item.expires_at_ms,
        "state": item.state.value,
        "accepted_at_ms": item.accepted_at_ms,
    }


def pnl(report: PnlReport) -> dict[str, Any]:
    return {
        "points": [
            {
                "ts_ms": p.ts_ms,
                "equity": dec(p.equity),
                "mark_price_usd": dec(p.mark_price_usd),
                "equity_usd": dec(_cents(p.equity_usd)),
            }
            for p in report.points
        ],
        "change": dec(report.change),
        "change_usd": dec(_cents(report.change_usd)),
        "fees_paid": {currency: dec(total) for currency, total in report.fees_paid.items()},
        **pnl_components(report.components),
    }


PNL_COMPONENTS = ("quote_income", "hedge", "funding", "trading_fees", "onchain_fees", "total")


def pnl_components(p: DealerPnl | None) -> dict[str, Any]:
    """Each component in BTC (8 decimals) and in USD at the window's last mark (to the cent);
    quote income is USD (the wallet's), shown in BTC at that mark."""
    if p is None:
        return {"components": None, "reconciliation": None}
    in_btc = {
        "hedge": p.hedge_btc,
        "funding": p.funding_btc,
        "trading_fees": p.trading_fees_btc,
        "onchain_fees": p.onchain_fees_btc,
        "total": p.total_btc,
    }
    components: dict[str, dict[str, Any]] = {
        name: {"btc": dec(_sats(amount)), "usd": dec(_cents(p.usd(amount)))}
        for name, amount in in_btc.items()
    }
    components["quote_income"] = {
        "btc": dec(_sats(p.quote_income_usd / p.price_usd)),
        "usd": dec(_cents(p.quote_income_usd)),
        "unpriced_quotes": p.quotes_unpriced,
    }
    return {
        "components": {name: components[name] for name in PNL_COMPONENTS},
        "own_transfers_btc": dec(_sats(p.own_transfers_btc)),
        "price_usd": dec(p.price_usd),
        "reconciliation": {
            "venue_equity_change_btc": dec(_sats(p.venue_equity_change_btc)),
            "wallet_change_btc": dec(_sats(p.wallet_change_btc)),
            "equity_change_btc": dec(_sats(p.equity_change_btc)),
            "components_total_btc": dec(_sats(p.total_btc)),
            "difference_btc": dec(_sats(p.unexplained_btc)),
        },
    }


def _sats(value: Decimal) -> Decimal:
    """BTC amounts for display: to the sat, half-even."""
    return value.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_EVEN)


def _cents(value: Decimal | None) -> Decimal | None:
    """USD values of BTC amounts, for display: to the cent, half-even."""
    return None if value is None else value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)

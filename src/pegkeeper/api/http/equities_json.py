"""JSON shapes of the equity hedger's endpoints. Decimals travel as strings, as elsewhere."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pegkeeper.api.http.serialize import dec
from pegkeeper.domain.equities.broker import masked_account
from pegkeeper.domain.equities.ledger import BrokerOrderRecord, FillCover
from pegkeeper.services.equities.broker_probe import BrokerCheck
from pegkeeper.services.views.equities_figures import (
    EquitiesOverview,
    Ingestion,
    LedgerStatus,
    PnlSummary,
    Switch,
    Switches,
    SymbolPnl,
    SymbolRow,
    captured_usd,
    price,
)

MAX_BREAKS_LISTED = 50


def overview(view: EquitiesOverview) -> dict[str, Any]:
    return {
        "now_ms": view.now_ms,
        "symbols": [symbol_row(r) for r in view.symbols],
        "ingestion": ingestion(view.ingestion),
        "switches": switches_json(view.switches),
        "ledger": ledger(view.ledger),
        "broker": broker_json(view.broker),
    }


def broker_json(check: BrokerCheck | None) -> dict[str, Any] | None:
    """The last broker probe: whether the hedger can trade, the market now, the account's cash."""
    if check is None:
        return None
    account = check.account
    return {
        "broker": check.broker,
        "ok": check.ok,
        "problems": list(check.problems),
        "checked_at_ms": check.checked_at_ms,
        "session": check.session.value if check.session else None,
        "next_open_ms": check.next_open_ms,
        "account": masked_account(account.account_id) if account else None,
        "cash_usd": dec(account.cash_usd) if account else None,
        "buying_power_usd": dec(account.buying_power_usd) if account else None,
    }


def symbol_row(row: SymbolRow) -> dict[str, Any]:
    return {
        "symbol": row.symbol,
        "onchain_net": dec(row.onchain_net),
        "hedged": dec(row.hedged),
        "pending": dec(row.pending),
        "exposure": dec(row.exposure),
        "exposure_usd": dec(row.exposure_usd),
        "exposure_age_seconds": row.exposure_age_seconds,
        "oldest_open_ms": row.oldest_open_ms,
        "waiting_reason": row.waiting_reason,
        "paused": row.paused,
        "last_price_usd": dec(row.last_price_usd),
        "realised_pnl_usd": dec(row.pnl.realised_usd),
        "fees_usd": dec(row.pnl.fees_usd),
        "unrealised_pnl_usd": dec(row.pnl.unrealised_usd),
        "in_flight": in_flight(row.in_flight),
    }


def in_flight(order: BrokerOrderRecord | None) -> dict[str, Any] | None:
    if order is None:
        return None
    intent = order.intent
    return {
        "client_order_id": intent.client_order_id,
        "broker_order_id": order.broker_order_id or None,
        "side": intent.side.value,
        "quantity": dec(intent.quantity),
        "filled": dec(order.filled_quantity),
        "state": order.state.value,
        "created_at_ms": intent.created_at_ms,
        "updated_at_ms": order.updated_at_ms or None,
        "message": order.message,
    }


def ingestion(status: Ingestion) -> dict[str, Any]:
    checkpoint = status.checkpoint
    return {
        "running": status.running,
        "checkpoint_block": checkpoint.number if checkpoint else None,
        "checkpoint_time_ms": checkpoint.timestamp_s * 1000 if checkpoint else None,
        "cutoff_block": status.cutoff_block,
        "lag_blocks": status.lag_blocks,
        "lag_seconds": status.lag_seconds,
        "consecutive_failures": status.consecutive_failures,
        "last_error": status.last_error,
        "last_success_ms": status.last_success_ms,
        "stalled": status.stalled,
        "skipped": status.skipped,
    }


def switches_json(switches: Switches | None) -> dict[str, Any] | None:
    if switches is None:
        return None
    return {
        "global": switch(switches.all_symbols),
        "symbols": {name: switch(s) for name, s in sorted(switches.symbols.items())},
    }


def switch(state: Switch) -> dict[str, Any]:
    return {
        "paused": state.paused,
        "by": state.by or None,
        "since_ms": state.since_ms or None,
        "note": state.note,
    }


def ledger(status: LedgerStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "checked_at_ms": status.checked_at_ms,
        "last_error": status.last_error,
        "breaks": len(status.breaks),
        "by_scope": status.by_scope,
        "details": [
            {"scope": b.scope, "key": b.key, "detail": b.detail}
            for b in status.breaks[:MAX_BREAKS_LISTED]
        ],
    }


def fill_cover(cover: FillCover) -> dict[str, Any]:
    fill = cover.fill
    shares = abs(fill.signed_shares)
    covered = sum((a.shares for a, _ in cover.covers), Decimal(0))
    return {
        "fill_id": fill.fill_id,
        "tx_hash": fill.tx_hash,
        "block_number": fill.block_number,
        "log_index": fill.log_index,
        "block_time_ms": fill.block_timestamp_s * 1000,
        "side": "bought" if fill.signed_shares > 0 else "sold",
        "shares": dec(shares),
        "usdc": dec(fill.usdc),
        "price_usd": dec(price(fill.price_usd)),
        "reverted": fill.reverted,
        "covered_shares": dec(covered),
        "uncovered_shares": dec(shares - covered),
        "covers": [
            {
                "client_order_id": allocation.client_order_id,
                "broker_fill_id": broker.fill_id,
                "shares": dec(allocation.shares),
                "side": "buy" if broker.signed_quantity > 0 else "sell",
                "fill_quantity": dec(abs(broker.signed_quantity)),
                "price_usd": dec(broker.price_usd),
                "fee_usd": dec(broker.fee_usd),
                "ts_ms": broker.ts_ms,
                "captured_usd": dec(captured_usd(fill, allocation.shares, broker)),
            }
            for allocation, broker in cover.covers
        ],
    }


def pnl_summary(summary: PnlSummary) -> dict[str, Any]:
    net = summary.realised_usd - summary.fees_usd - summary.rebalancing_cost_usd
    unrealised = summary.unrealised_usd
    return {
        "realised_usd": dec(summary.realised_usd),
        "fees_usd": dec(summary.fees_usd),
        "rebalancing_costs_usd": dec(summary.rebalancing_cost_usd),
        "rebalancing_costs_by_kind_usd": {
            kind: dec(usd) for kind, usd in sorted(summary.rebalancing_costs_usd.items())
        },
        "net_realised_usd": dec(net),
        "unrealised_usd": dec(unrealised),
        "total_usd": dec(net + unrealised if unrealised is not None else net),
        "buckets": {bucket.value: dec(usd) for bucket, usd in summary.by_bucket.items()},
        "symbols": [symbol_pnl(s) for s in summary.symbols],
        "points": [
            {
                "ts_ms": p.ts_ms,
                "realised_usd": dec(p.realised_usd),
                "fees_usd": dec(p.fees_usd),
                "net_usd": dec(p.net_usd),
            }
            for p in summary.points
        ],
    }


def symbol_pnl(pnl: SymbolPnl) -> dict[str, Any]:
    return {
        "symbol": pnl.symbol,
        "realised_usd": dec(pnl.realised_usd),
        "fees_usd": dec(pnl.fees_usd),
        "unrealised_usd": dec(pnl.unrealised_usd),
        "position_shares": dec(pnl.position_shares),
        "trades": pnl.trades,
        "buckets": {bucket.value: dec(usd) for bucket, usd in pnl.by_bucket.items()},
    }

"""The JSON the simulated Alpaca answers with, in the shapes of Alpaca's API reference: the
order, trade account, account configurations, position and FILL activity objects. Numbers
are strings, as Alpaca writes them; times are RFC 3339 in UTC."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pegkeeper.sim.brokers.alpaca_records import ZERO, Account, Activity, Order, Position

# asset ids are stable per symbol, as Alpaca's are
_ASSET_NAMESPACE = uuid.UUID("b0b6dd9d-8b9b-48a9-ba46-b9d54906e415")


def number(value: Decimal | None) -> str | None:
    """A decimal as Alpaca writes it: plain digits, no exponent, no trailing zeros."""
    if value is None:
        return None
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def stamp(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def asset_id(symbol: str) -> str:
    return str(uuid.uuid5(_ASSET_NAMESPACE, symbol))


def order_json(order: Order) -> dict[str, Any]:
    ended = order.ended_ms
    return {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "created_at": stamp(order.created_ms),
        "updated_at": stamp(order.updated_ms),
        "submitted_at": stamp(order.created_ms),
        "filled_at": stamp(ended.get("filled_at")),
        "expired_at": stamp(ended.get("expired_at")),
        "canceled_at": stamp(ended.get("canceled_at")),
        "failed_at": stamp(ended.get("failed_at")),
        "replaced_at": stamp(ended.get("replaced_at")),
        "replaced_by": None,
        "replaces": None,
        "asset_id": asset_id(order.symbol),
        "symbol": order.symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": number(order.qty),
        "filled_qty": number(order.filled_qty),
        "filled_avg_price": number(order.filled_avg_price),
        "order_class": "simple",
        "order_type": order.type,
        "type": order.type,
        "side": order.side,
        "position_intent": "buy_to_open" if order.side == "buy" else "sell_to_close",
        "time_in_force": order.time_in_force,
        "limit_price": number(order.limit_price),
        "stop_price": None,
        "status": order.status,
        "extended_hours": order.extended_hours,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
        "subtag": None,
        "source": None,
        "expires_at": None,
    }


def account_json(account: Account, reserved_usd: Decimal, positions_usd: Decimal) -> dict[str, Any]:
    """`positions_usd`: the market value of the long positions."""
    cash = account.cash_usd
    buying_power = cash - reserved_usd
    equity = cash + positions_usd
    return {
        "id": account.id,
        "admin_configurations": {},
        "user_configurations": None,
        "account_number": account.number,
        "status": account.status,
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "buying_power": number(buying_power),
        "regt_buying_power": number(buying_power),
        "daytrading_buying_power": "0",
        "effective_buying_power": number(buying_power),
        "non_marginable_buying_power": number(buying_power - account.unsettled_usd),
        "options_buying_power": number(buying_power),
        "bod_dtbp": "0",
        "cash": number(cash),
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "portfolio_value": number(equity),
        "pattern_day_trader": False,
        "trading_blocked": account.trading_blocked,
        "transfers_blocked": False,
        "account_blocked": account.account_blocked,
        "created_at": "2024-01-02T14:30:00.000000Z",
        "trade_suspended_by_user": account.trade_suspended_by_user,
        "multiplier": "1",
        "shorting_enabled": False,
        "equity": number(equity),
        "last_equity": number(equity),
        "long_market_value": number(positions_usd),
        "short_market_value": "0",
        "position_market_value": number(positions_usd),
        "initial_margin": "0",
        "maintenance_margin": "0",
        "last_maintenance_margin": "0",
        "sma": "0",
        "daytrade_count": 0,
        "balance_asof": "2024-01-02",
        "crypto_tier": 0,
        "options_trading_level": 0,
        "intraday_adjustments": "0",
        "pending_reg_taf_fees": "0",
    }


def broker_account_json(
    account: Account, reserved_usd: Decimal, positions_usd: Decimal
) -> dict[str, Any]:
    """The Broker API's trade account: the Trading API's fields and the previous close's."""
    shown = account_json(account, reserved_usd, positions_usd)
    cash = number(account.cash_usd - account.unsettled_usd)
    return {
        **shown,
        "cash_withdrawable": cash,
        "cash_transferable": cash,
        "previous_close": "2024-01-02T16:00:00-05:00",
        "last_long_market_value": shown["long_market_value"],
        "last_short_market_value": "0",
        "last_cash": shown["cash"],
        "last_initial_margin": "0",
        "last_regt_buying_power": shown["regt_buying_power"],
        "last_buying_power": shown["buying_power"],
        "clearing_broker": "VELOX",
    }


def configurations_json(account: Account) -> dict[str, Any]:
    return {
        "dtbp_check": "entry",
        "trade_confirm_email": "all",
        "suspend_trade": account.trade_suspended_by_user,
        "no_shorting": True,
        "fractional_trading": account.fractional_trading,
        "max_margin_multiplier": "1",
        "max_options_trading_level": 0,
        "pdt_check": "entry",
        "ptp_no_exception_entry": False,
    }


def position_json(
    symbol: str, position: Position, price: Decimal, reserved: Decimal
) -> dict[str, Any]:
    qty = position.qty
    value = qty * price
    avg = position.cost_usd / qty if qty else ZERO
    return {
        "asset_id": asset_id(symbol),
        "symbol": symbol,
        "exchange": "NASDAQ",
        "asset_class": "us_equity",
        "asset_marginable": True,
        "qty": number(qty),
        "qty_available": number(qty - reserved if qty > 0 else ZERO),
        "avg_entry_price": number(avg),
        "side": "long" if qty >= 0 else "short",
        "market_value": number(value),
        "cost_basis": number(position.cost_usd),
        "unrealized_pl": number(value - position.cost_usd),
        "unrealized_plpc": "0",
        "unrealized_intraday_pl": "0",
        "unrealized_intraday_plpc": "0",
        "current_price": number(price),
        "lastday_price": number(price),
        "change_today": "0",
    }


def activity_json(activity: Activity) -> dict[str, Any]:
    return {
        "id": activity.id,
        "account_id": activity.account_id,
        "activity_type": "FILL",
        "transaction_time": stamp(activity.ts_ms),
        "type": "fill" if activity.leaves_qty == 0 else "partial_fill",
        "price": number(activity.price),
        "qty": number(activity.qty),
        "side": activity.side,
        "symbol": activity.symbol,
        "leaves_qty": number(activity.leaves_qty),
        "order_id": activity.order_id,
        "cum_qty": number(activity.cum_qty),
        "order_status": activity.order_status,
    }

"""Alpaca's order objects and FILL activities in pegkeeper's terms (specs/equities.md,
"Brokers"): the state of the spec's table, and the fills.

Fills come from the order's FILL activities, one BrokerFill per activity under the activity's
own id, so partial fills add up exactly and a fill seen twice is stored once. When the
activities show less than the order's `filled_qty`, the rest is not invented while it may
still arrive: an order still working reports the fills shown; an order that ended waits as
working until its activities catch up, for at most `settle_seconds` after it ended. After that
(or at once when the activities endpoint is unavailable for good), the order's cumulative
figures stand in for what the activities do not show: one fill of the missing quantity at
the order's `filled_avg_price`, under the id "<order id>:rest". An order whose activities are
unavailable reports its fills only when it has ended, as that one fill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pegkeeper.domain.equities.broker import BrokerFill, BrokerOrderReport, BrokerOrderState
from pegkeeper.domain.errors import VenueUncertain

ZERO = Decimal(0)
WORKING = BrokerOrderState.WORKING

# Alpaca's order statuses; any other (one added later) is working. `replaced`, `suspended`
# and `calculated` are not terminal: treating them as failed risks a second hedge.
STATES: Mapping[str, BrokerOrderState] = {
    "filled": BrokerOrderState.FILLED,
    "canceled": BrokerOrderState.CANCELED,
    "expired": BrokerOrderState.FAILED,
    "rejected": BrokerOrderState.FAILED,
    "done_for_day": BrokerOrderState.FAILED,
    "partially_filled": WORKING,
    "replaced": WORKING,
    "suspended": WORKING,
    "calculated": WORKING,
    "new": WORKING,
    "accepted": WORKING,
    "pending_new": WORKING,
    "accepted_for_bidding": WORKING,
    "pending_cancel": WORKING,
    "pending_replace": WORKING,
    "pending_review": WORKING,
    "stopped": WORKING,
    "held": WORKING,
}


def state_of(status: str) -> BrokerOrderState:
    return STATES.get(status, WORKING)


def order_report(
    client_order_id: str,
    order: Mapping[str, Any],
    activities: Sequence[Mapping[str, Any]] | None,
    now_ms: int,
    settle_seconds: float,
) -> BrokerOrderReport:
    """The report of an Alpaca order; `activities` are its FILL activities, None when the
    activities endpoint is unavailable for good."""
    order_id = str(order.get("id") or "")
    status = str(order.get("status") or "")
    state = state_of(status)
    filled = decimal_field(order, "filled_qty", ZERO)
    message = f"alpaca status {status}" if status else ""
    if activities is None:
        fills = _cumulative(order, order_id, filled) if state.is_terminal else []
        return BrokerOrderReport(client_order_id, state, order_id, tuple(fills), message)
    fills = _from_activities(activities, order_id)
    missing = filled - sum((f.quantity for f in fills), ZERO)
    if missing > 0 and state.is_terminal:
        ended_ms = time_ms(order.get("updated_at")) or now_ms
        if now_ms - ended_ms < settle_seconds * 1000:
            state = WORKING
            message = f"alpaca status {status}; waiting for the details of {missing} shares filled"
        else:
            fills.append(_rest(order, order_id, missing))
    return BrokerOrderReport(client_order_id, state, order_id, tuple(fills), message)


def _from_activities(activities: Sequence[Mapping[str, Any]], order_id: str) -> list[BrokerFill]:
    fills: dict[str, BrokerFill] = {}
    for activity in activities:
        if str(activity.get("order_id")) != order_id:
            continue  # a server that ignored the order filter
        fill_id = str(activity.get("id") or "")
        quantity = decimal_field(activity, "qty", ZERO)
        if not fill_id or quantity <= 0:
            raise VenueUncertain(f"alpaca answered a FILL activity without id or qty: {activity}")
        fills[fill_id] = BrokerFill(
            fill_id=fill_id,
            quantity=quantity,
            price_usd=decimal_field(activity, "price", ZERO),
            ts_ms=time_ms(activity.get("transaction_time")) or 0,
        )
    # oldest first; fills of one moment in the order Alpaca listed them (asked ascending)
    return sorted(fills.values(), key=lambda f: f.ts_ms)


def _cumulative(order: Mapping[str, Any], order_id: str, filled: Decimal) -> list[BrokerFill]:
    return [_rest(order, order_id, filled)] if filled > 0 else []


def _rest(order: Mapping[str, Any], order_id: str, quantity: Decimal) -> BrokerFill:
    """What the activities do not show, from the order's cumulative figures."""
    ended = order.get("filled_at") or order.get("updated_at")
    return BrokerFill(
        fill_id=f"{order_id}:rest",
        quantity=quantity,
        price_usd=decimal_field(order, "filled_avg_price", ZERO),
        ts_ms=time_ms(ended) or 0,
    )


def decimal_field(item: Mapping[str, Any], name: str, default: Decimal) -> Decimal:
    """A number Alpaca writes as a string (or null); anything else is an answer that cannot be
    trusted."""
    raw = item.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise VenueUncertain(f"alpaca answered {name}={raw!r}: not a number") from None
    if not value.is_finite():
        raise VenueUncertain(f"alpaca answered {name}={raw!r}: not a number")
    return value


def time_ms(raw: object) -> int | None:
    """An RFC 3339 time (Alpaca writes UTC with 'Z', or a local time with its offset)."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return int(datetime.fromisoformat(raw).timestamp() * 1000)
    except ValueError:
        return None


def answer_object(answer: Any, what: str) -> dict[str, Any]:
    """An answer that must be a JSON object; VenueUncertain (what was asked may have happened)
    when it is not."""
    if not isinstance(answer, dict):
        raise VenueUncertain(f"alpaca answered a {what} that is not an object: {answer!r}")
    return answer


def required_decimal(item: dict[str, Any], name: str) -> Decimal:
    value = decimal_field(item, name, Decimal("NaN"))
    if value.is_nan():
        raise VenueUncertain(f"alpaca answered without {name}: {item}")
    return value

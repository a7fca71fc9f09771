"""Schwab's Trader API JSON in pegkeeper's terms and back (specs/equities.md, "Brokers"): the
order a hedge sends, the report an order gives, the account, the positions and the market's
hours. No I/O here: `schwab.py` sends and reads, this module translates.

- Quantities are whole shares. The floor to whole shares happens once, where a hedge is sized
  (domain.equities.accumulation, for BrokerKind.WHOLE_SHARES); an intent that still carries a
  fraction is refused here with OrderRejected (nothing is sent, the core records the reason)
  rather than rounded a second time into an order that differs from the one recorded.
- Limit prices are sent as the decimal's own digits (the hedger has rounded them to the tick).
- Statuses (21 documented): FILLED -> filled; CANCELED -> canceled; REJECTED, EXPIRED -> failed;
  every other one, and any status Schwab adds later, -> working. Partial fills are in every
  report, whatever the status, so a canceled or failed order's fills are applied first.
- Fills: one BrokerFill per execution leg of `orderActivityCollection`, each at its own price,
  with the id "<orderId>-<activityId>-<leg number>"; the spec's fill price (the quantity-
  weighted mean of the legs) is what these fills average to. A leg's time is its `time`, else
  the order's `closeTime`, else its `enteredTime`.
- Numbers arrive as JSON numbers and are read from their digits into Decimal (never through a
  binary float).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pegkeeper.domain.equities.broker import (
    BrokerAccount,
    BrokerFill,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
    BrokerOrderType,
    BrokerPosition,
)
from pegkeeper.domain.equities.sessions import TradingDay
from pegkeeper.domain.errors import OrderRejected, VenueError
from pegkeeper.domain.orders import OrderSide

BROKER = "schwab"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_STATES = {
    "FILLED": BrokerOrderState.FILLED,
    "CANCELED": BrokerOrderState.CANCELED,
    "REJECTED": BrokerOrderState.FAILED,
    "EXPIRED": BrokerOrderState.FAILED,
}
# statuses after which an order reserves no shares (REPLACED: its replacement does)
CLOSED_STATUSES = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED", "REPLACED"})
INSTRUCTIONS = {OrderSide.BUY: "BUY", OrderSide.SELL: "SELL"}


class MalformedAnswer(VenueError):
    """Schwab answered with JSON this adapter cannot read (a missing or mistyped field)."""


def read_json(content: bytes) -> Any:
    """A response body with every fractional number read as a Decimal."""
    try:
        return json.loads(content, parse_float=Decimal)
    except ValueError:
        raise MalformedAnswer(f"{BROKER}: the answer is not JSON: {content[:200]!r}") from None


# -- orders ------------------------------------------------------------------------------------


def order_body(intent: BrokerOrderIntent) -> dict[str, Any]:
    """The order JSON of a hedge: market in the regular session, limit (DAY, SEAMLESS session:
    pre-market, regular and after-hours) when it is an extended-hours order."""
    quantity = intent.quantity
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise OrderRejected(
            f"{BROKER} takes whole shares only: quantity {quantity} of {intent.symbol} "
            "(expected a positive whole number)"
        )
    body: dict[str, Any] = {
        "orderType": "MARKET",
        "session": "NORMAL",
        "duration": "DAY",
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [
            {
                "instruction": INSTRUCTIONS[intent.side],
                "quantity": int(quantity),
                "instrument": {"symbol": intent.symbol, "assetType": "EQUITY"},
            }
        ],
    }
    if intent.order_type is BrokerOrderType.LIMIT:
        if intent.limit_price_usd is None or intent.limit_price_usd <= 0:
            raise OrderRejected(
                f"a limit order needs a positive limit price, got {intent.limit_price_usd}"
            )
        body["orderType"] = "LIMIT"
        body["price"] = format(intent.limit_price_usd, "f")
        if intent.extended_hours:
            body["session"] = "SEAMLESS"
    elif intent.extended_hours:
        raise OrderRejected("extended hours take limit orders only (specs/equities.md)")
    return body


def order_id_from_location(location: str | None) -> str:
    """The order id that ends the `Location` of a 201 (".../orders/1004000000001")."""
    tail = (location or "").rstrip("/").rsplit("/", 1)[-1]
    return tail if tail.isdigit() else ""


def state_of(status: str) -> BrokerOrderState:
    return _STATES.get(status, BrokerOrderState.WORKING)


def report_of(client_order_id: str, order: Any) -> BrokerOrderReport:
    fields = _object(order, "order")
    order_id = str(fields.get("orderId", ""))
    status = str(fields.get("status", "UNKNOWN"))
    description = str(fields.get("statusDescription", "") or "")
    return BrokerOrderReport(
        client_order_id=client_order_id,
        state=state_of(status),
        broker_order_id=order_id,
        fills=tuple(fills_of(fields)),
        message=f"{status}: {description}" if description else status,
    )


def fills_of(order: dict[str, Any]) -> list[BrokerFill]:
    order_id = str(order.get("orderId", ""))
    fallback = order.get("closeTime") or order.get("enteredTime")
    fills = []
    for position, activity in enumerate(order.get("orderActivityCollection") or []):
        if not isinstance(activity, dict) or activity.get("activityType") != "EXECUTION":
            continue
        activity_id = activity.get("activityId", f"a{position}")
        for number, leg in enumerate(activity.get("executionLegs") or [], start=1):
            quantity = decimal_of(leg.get("quantity"), "executionLegs[].quantity")
            if quantity <= 0:
                continue
            fills.append(
                BrokerFill(
                    fill_id=f"{order_id}-{activity_id}-{number}",
                    quantity=quantity,
                    price_usd=decimal_of(leg.get("price"), "executionLegs[].price"),
                    ts_ms=ms_of(leg.get("time") or fallback),
                )
            )
    return fills


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """What matching and reservations read of an order in a list."""

    order_id: str
    symbol: str
    instruction: str
    quantity: Decimal
    filled: Decimal
    status: str
    entered_ms: int


def summary_of(order: Any) -> OrderSummary | None:
    """A single-leg equity order's summary; None for other orders (spreads, options)."""
    fields = _object(order, "order")
    legs = fields.get("orderLegCollection") or []
    if len(legs) != 1 or not isinstance(legs[0], dict):
        return None
    instrument = legs[0].get("instrument") or {}
    return OrderSummary(
        order_id=str(fields.get("orderId", "")),
        symbol=str(instrument.get("symbol", "")),
        instruction=str(legs[0].get("instruction", "")),
        quantity=decimal_of(fields.get("quantity", legs[0].get("quantity")), "quantity"),
        filled=decimal_of(fields.get("filledQuantity", 0), "filledQuantity"),
        status=str(fields.get("status", "UNKNOWN")),
        entered_ms=ms_of(fields.get("enteredTime")),
    )


def matching_order(
    orders: Iterable[OrderSummary],
    intent: BrokerOrderIntent,
    *,
    not_before_ms: int,
    taken: set[str],
) -> OrderSummary | None:
    """The order an intent sent, among an account's recent orders: the same symbol, side and
    quantity, entered at or after `not_before_ms`, not already known as another intent's; the
    earliest of them (an intent's order is entered after the intent was made, and a symbol's
    next intent is made only once its previous order is final)."""
    candidates = [
        o
        for o in orders
        if o.symbol == intent.symbol
        and o.instruction == INSTRUCTIONS[intent.side]
        and o.quantity == intent.quantity
        and o.entered_ms >= not_before_ms
        and o.order_id not in taken
    ]
    return min(candidates, key=lambda o: (o.entered_ms, o.order_id), default=None)


# -- the account -------------------------------------------------------------------------------


def account_of(account_number: str, answer: Any) -> BrokerAccount:
    """`cash_usd` is `currentBalances.cashBalance`, the account's cash (the spec's `cash`,
    unsettled sale proceeds included, not a non-marginable buying power); buying power is
    `cashAvailableForTrading` in a cash account, `buyingPower` in a margin one."""
    account = _object(_object(answer, "account").get("securitiesAccount"), "securitiesAccount")
    balances = _object(account.get("currentBalances"), "currentBalances")
    cash = decimal_of(balances.get("cashBalance"), "currentBalances.cashBalance")
    power = balances.get("cashAvailableForTrading", balances.get("buyingPower"))
    restricted = bool(account.get("isClosingOnlyRestricted")) or bool(account.get("pfcbFlag"))
    return BrokerAccount(
        broker=BROKER,
        account_id=account_number,
        cash_usd=cash,
        buying_power_usd=cash if power is None else decimal_of(power, "buying power"),
        can_trade=not restricted,
        fractional=False,
        extended_hours=True,
        status=str(account.get("type", "")) + (" closing-only" if restricted else ""),
    )


def positions_of(answer: Any, open_orders: Iterable[OrderSummary]) -> dict[str, BrokerPosition]:
    """Positions by symbol; `available` is the long quantity less the shares the account's open
    sell orders still reserve (never below zero)."""
    account = _object(_object(answer, "account").get("securitiesAccount"), "securitiesAccount")
    reserved: dict[str, Decimal] = {}
    for order in open_orders:
        if order.instruction == "SELL" and order.status not in CLOSED_STATUSES:
            rest = max(order.quantity - order.filled, Decimal(0))
            reserved[order.symbol] = reserved.get(order.symbol, Decimal(0)) + rest
    positions = {}
    for entry in account.get("positions") or []:
        instrument = entry.get("instrument") or {}
        symbol = str(instrument.get("symbol", ""))
        if not symbol or instrument.get("assetType", "EQUITY") != "EQUITY":
            continue
        long = decimal_of(entry.get("longQuantity", 0), "longQuantity")
        short = decimal_of(entry.get("shortQuantity", 0), "shortQuantity")
        available = max(long - reserved.get(symbol, Decimal(0)), Decimal(0))
        positions[symbol] = BrokerPosition(symbol, long - short, available)
    return positions


# -- the market's hours ------------------------------------------------------------------------


def trading_day_of(day: date, answer: Any) -> TradingDay | None:
    """The day's sessions from Schwab's market hours; None when the market does not open. The
    extended bounds are Schwab's own (pre-market from 07:00 ET); a day without them has
    extended bounds equal to the regular ones."""
    markets = _object(_object(answer, "markets").get("equity"), "equity")
    product = markets.get("EQ") or next(iter(markets.values()), None)
    if not isinstance(product, dict) or not product.get("isOpen"):
        return None
    hours = _object(product.get("sessionHours"), "sessionHours")
    regular = _spans(hours, "regularMarket")
    if not regular:
        raise MalformedAnswer(f"{BROKER}: {day} is open but has no regularMarket hours")
    pre = _spans(hours, "preMarket") or regular
    post = _spans(hours, "postMarket") or regular
    return TradingDay(
        day=day,
        pre_open_ms=min(start for start, _ in pre),
        open_ms=min(start for start, _ in regular),
        close_ms=max(end for _, end in regular),
        post_close_ms=max(end for _, end in post),
    )


def _spans(hours: dict[str, Any], key: str) -> list[tuple[int, int]]:
    return [(ms_of(s.get("start")), ms_of(s.get("end"))) for s in hours.get(key) or []]


# -- values ------------------------------------------------------------------------------------


def decimal_of(value: Any, what: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            pass
    raise MalformedAnswer(f"{BROKER}: {what} is not a number: {value!r}")


def ms_of(value: Any) -> int:
    """Unix ms of Schwab's times: "2026-01-05T14:30:00+0000", "...T14:30:00.000Z",
    "...T09:30:00-05:00"."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise MalformedAnswer(f"{BROKER}: not a time with a zone: {value!r}")
    return (moment - EPOCH) // _MS


def wire_time(ms: int) -> str:
    """A time as the orders list's query takes it: "2026-01-05T14:30:00.000Z"."""
    moment = EPOCH + ms * _MS
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedAnswer(f"{BROKER}: expected {what} to be an object, got {value!r}"[:300])
    return value

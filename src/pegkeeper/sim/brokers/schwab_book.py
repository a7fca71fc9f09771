"""The accounts, orders and executions behind the local Schwab server, and their JSON as the
Charles Schwab Trader API writes it (orders: `orderLegCollection`, `orderActivityCollection[]
.executionLegs[]`, `enteredTime` / `closeTime` as "2026-01-05T14:30:00+0000", numbers as JSON
numbers; accounts: `securitiesAccount.currentBalances`, `positions[]`).

Orders are driven by the test: with `auto_fill` on, a new order fills whole at the symbol's
configured price; otherwise it stays WORKING until `fill`, `set_status` or a cancel moves it.
Fills may come after a cancel and beyond the order's quantity, as they do at real brokers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# The 21 statuses Schwab documents for an order.
STATUSES = (
    "AWAITING_PARENT_ORDER",
    "AWAITING_CONDITION",
    "AWAITING_STOP_CONDITION",
    "AWAITING_MANUAL_REVIEW",
    "ACCEPTED",
    "AWAITING_UR_OUT",
    "PENDING_ACTIVATION",
    "QUEUED",
    "WORKING",
    "REJECTED",
    "PENDING_CANCEL",
    "CANCELED",
    "PENDING_REPLACE",
    "REPLACED",
    "FILLED",
    "EXPIRED",
    "NEW",
    "AWAITING_RELEASE_TIME",
    "PENDING_ACKNOWLEDGEMENT",
    "PENDING_RECALL",
    "UNKNOWN",
)
CLOSED = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED", "REPLACED"})
ORDER_TYPES = ("MARKET", "LIMIT")
SESSIONS = ("NORMAL", "AM", "PM", "SEAMLESS")
DURATIONS = ("DAY", "GOOD_TILL_CANCEL", "FILL_OR_KILL")
INSTRUCTIONS = ("BUY", "SELL")
FIRST_ORDER_ID = 1_004_000_000_001


class BadOrder(ValueError):
    """The order JSON is not one Schwab would take (answered 400 with this message)."""


@dataclass(slots=True)
class SimAccount:
    account_number: str
    hash_value: str
    cash_usd: Decimal
    long_shares: dict[str, Decimal] = field(default_factory=dict)
    account_type: str = "CASH"

    def to_json(self, with_positions: bool) -> dict[str, Any]:
        cash = number(self.cash_usd)
        body: dict[str, Any] = {
            "type": self.account_type,
            "accountNumber": self.account_number,
            "roundTrips": 0,
            "isDayTrader": False,
            "isClosingOnlyRestricted": False,
            "pfcbFlag": False,
            "currentBalances": {
                "cashBalance": cash,
                "cashAvailableForTrading": cash,
                "cashAvailableForWithdrawal": cash,
                "unsettledCash": 0,
                "totalCash": cash,
            },
        }
        if with_positions:
            body["positions"] = [
                {
                    "shortQuantity": 0,
                    "longQuantity": number(shares),
                    "averagePrice": 0,
                    "instrument": {"assetType": "EQUITY", "symbol": symbol},
                }
                for symbol, shares in sorted(self.long_shares.items())
                if shares != 0
            ]
        return {"securitiesAccount": body}


@dataclass(slots=True)
class Execution:
    activity_id: int
    quantity: Decimal
    price_usd: Decimal
    time_ms: int


@dataclass(slots=True)
class SimOrder:
    order_id: int
    account: SimAccount
    symbol: str
    instruction: str
    quantity: Decimal
    order_type: str
    session: str
    duration: str
    limit_price_usd: Decimal | None
    entered_ms: int
    status: str = "WORKING"
    status_description: str = ""
    close_ms: int | None = None
    executions: list[Execution] = field(default_factory=list)

    @property
    def filled(self) -> Decimal:
        return sum((e.quantity for e in self.executions), Decimal(0))

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "session": self.session,
            "duration": self.duration,
            "orderType": self.order_type,
            "complexOrderStrategyType": "NONE",
            "quantity": number(self.quantity),
            "filledQuantity": number(self.filled),
            "remainingQuantity": number(max(self.quantity - self.filled, Decimal(0))),
            "requestedDestination": "AUTO",
            "destinationLinkName": "AutoRoute",
            "orderLegCollection": [
                {
                    "orderLegType": "EQUITY",
                    "legId": 1,
                    "instrument": {"assetType": "EQUITY", "symbol": self.symbol},
                    "instruction": self.instruction,
                    "positionEffect": "OPENING" if self.instruction == "BUY" else "CLOSING",
                    "quantity": number(self.quantity),
                }
            ],
            "orderStrategyType": "SINGLE",
            "orderId": self.order_id,
            "cancelable": self.status not in CLOSED,
            "editable": self.status not in CLOSED,
            "status": self.status,
            "enteredTime": wire_time(self.entered_ms),
            "tag": "API_TOS:pegkeeper",
            "accountNumber": int(self.account.account_number),
            "orderActivityCollection": [self._activity(e) for e in self.executions],
        }
        if self.limit_price_usd is not None:
            body["price"] = number(self.limit_price_usd)
        if self.close_ms is not None:
            body["closeTime"] = wire_time(self.close_ms)
        if self.status_description:
            body["statusDescription"] = self.status_description
        return body

    def _activity(self, execution: Execution) -> dict[str, Any]:
        done = sum(
            (e.quantity for e in self.executions if e.activity_id <= execution.activity_id),
            Decimal(0),
        )
        return {
            "activityType": "EXECUTION",
            "activityId": execution.activity_id,
            "executionType": "FILL",
            "quantity": number(execution.quantity),
            "orderRemainingQuantity": number(max(self.quantity - done, Decimal(0))),
            "executionLegs": [
                {
                    "legId": 1,
                    "quantity": number(execution.quantity),
                    "mismarkedQuantity": 0,
                    "price": number(execution.price_usd),
                    "time": wire_time(execution.time_ms),
                }
            ],
        }


class SchwabBook:
    def __init__(self) -> None:
        self.accounts: dict[str, SimAccount] = {}  # by hash value
        self.orders: dict[int, SimOrder] = {}  # every order received, by id
        self.prices: dict[str, Decimal] = {}  # where orders fill, USD per share
        self.auto_fill = True
        self._next_order_id = FIRST_ORDER_ID
        self._next_activity_id = 70_000_000_001

    def add_account(self, account: SimAccount) -> SimAccount:
        self.accounts[account.hash_value] = account
        return account

    def place(self, account: SimAccount, body: Any, now_ms: int) -> SimOrder:
        order = self._new_order(account, body, now_ms)
        self.orders[order.order_id] = order
        if self.auto_fill:
            self.fill(order.order_id, order.quantity, time_ms=now_ms)
        return order

    def fill(
        self,
        order_id: int,
        quantity: Decimal,
        *,
        price_usd: Decimal | None = None,
        time_ms: int,
        close: bool | None = None,
    ) -> SimOrder:
        """One execution of `quantity` (at the symbol's price unless given); the order is
        FILLED once its quantity is reached, unless `close` says otherwise. An order already
        closed keeps its status (a late fill on a canceled order)."""
        order = self.orders[order_id]
        price = price_usd if price_usd is not None else self.prices.get(order.symbol)
        if price is None:
            raise ValueError(f"no price for {order.symbol}: set book.prices[{order.symbol!r}]")
        order.executions.append(Execution(self._next_activity_id, quantity, price, time_ms))
        self._next_activity_id += 1
        _move_account(order, quantity, price)
        complete = order.filled >= order.quantity if close is None else close
        if complete and order.status not in CLOSED:
            order.status = "FILLED"
            order.close_ms = time_ms
        return order

    def set_status(self, order_id: int, status: str, now_ms: int, description: str = "") -> None:
        if status not in STATUSES:
            raise ValueError(f"{status} is not one of Schwab's statuses: {', '.join(STATUSES)}")
        self.set_any_status(order_id, status, now_ms, description)

    def set_any_status(self, order_id: int, status: str, now_ms: int, description: str) -> None:
        """Any status, also one Schwab has not documented yet."""
        order = self.orders[order_id]
        order.status = status
        order.status_description = description
        order.close_ms = now_ms if status in CLOSED else None

    def cancel(self, order: SimOrder, now_ms: int) -> None:
        if order.status in CLOSED:
            raise BadOrder(f"order {order.order_id} is {order.status}: it cannot be canceled")
        self.set_any_status(order.order_id, "CANCELED", now_ms, "")

    def orders_between(
        self, account: SimAccount, from_ms: int, to_ms: int, status: str | None
    ) -> list[SimOrder]:
        """The account's orders entered in [from_ms, to_ms], newest first."""
        found = [
            o
            for o in self.orders.values()
            if o.account is account
            and from_ms <= o.entered_ms <= to_ms
            and (status is None or o.status == status)
        ]
        return sorted(found, key=lambda o: o.entered_ms, reverse=True)

    def _new_order(self, account: SimAccount, body: Any, now_ms: int) -> SimOrder:
        if not isinstance(body, dict):
            raise BadOrder("the order must be a JSON object")
        order_type = _one_of(body, "orderType", ORDER_TYPES)
        session = _one_of(body, "session", SESSIONS)
        duration = _one_of(body, "duration", DURATIONS)
        _one_of(body, "orderStrategyType", ("SINGLE",))
        legs = body.get("orderLegCollection")
        if not isinstance(legs, list) or len(legs) != 1 or not isinstance(legs[0], dict):
            raise BadOrder("orderLegCollection must hold exactly one leg")
        leg = legs[0]
        instruction = _one_of(leg, "instruction", INSTRUCTIONS)
        instrument = leg.get("instrument")
        if not isinstance(instrument, dict) or instrument.get("assetType") != "EQUITY":
            raise BadOrder("instrument.assetType must be EQUITY")
        symbol = instrument.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise BadOrder("instrument.symbol is missing")
        quantity = _decimal(leg.get("quantity"), "quantity")
        if quantity <= 0 or quantity != quantity.to_integral_value():
            raise BadOrder(f"quantity must be a positive whole number of shares, not {quantity}")
        limit = None
        if order_type == "LIMIT":
            limit = _decimal(body.get("price"), "price")
        elif session != "NORMAL":
            raise BadOrder("market orders are taken in the NORMAL session only")
        order_id = self._next_order_id
        self._next_order_id += 1
        return SimOrder(
            order_id=order_id,
            account=account,
            symbol=symbol,
            instruction=instruction,
            quantity=quantity,
            order_type=order_type,
            session=session,
            duration=duration,
            limit_price_usd=limit,
            entered_ms=now_ms,
        )


def _move_account(order: SimOrder, quantity: Decimal, price: Decimal) -> None:
    account = order.account
    sign = 1 if order.instruction == "BUY" else -1
    account.long_shares[order.symbol] = account.long_shares.get(order.symbol, Decimal(0)) + (
        sign * quantity
    )
    account.cash_usd -= sign * quantity * price


def _one_of(body: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = body.get(key)
    if value not in allowed:
        raise BadOrder(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _decimal(value: Any, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise BadOrder(f"{key} must be a number, not {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise BadOrder(f"{key} must be a number, not {value!r}") from None


def number(value: Decimal) -> int | float:
    """A JSON number as Schwab sends it: an integer when whole, else a binary float (the
    client reads the digits back exactly)."""
    return int(value) if value == value.to_integral_value() else float(value)


def wire_time(ms: int) -> str:
    """Schwab's order timestamps: "2026-01-05T14:30:00+0000"."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")

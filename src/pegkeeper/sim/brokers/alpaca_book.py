"""What the simulated Alpaca knows and does: accounts, positions, orders and their fills,
prices, halted symbols, the market calendar, and the scripts tests give the next orders.

An order moves through its script one step each time the client reads it (by id or by client
order id), so a test knows exactly what each lookup sees. A market order without a script fills
whole at the symbol's price on its first read; a limit order without one rests. Order requests
are checked as Alpaca checks them, each refusal with Alpaca's status, code and message.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from pegkeeper.sim.brokers.alpaca_calendar import CalendarDay, weekdays
from pegkeeper.sim.brokers.alpaca_records import (
    CANCELABLE,
    KEEPS_STATUS_ON_FILL,
    ZERO,
    Account,
    Activity,
    Order,
    OrderRefused,
    Position,
    Script,
    Step,
    fill,
)

QTY_STEP = Decimal("0.000000001")  # Alpaca takes quantities to 9 decimals
SIDES = frozenset({"buy", "sell"})
TYPES = frozenset({"market", "limit"})
TIME_IN_FORCE = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
MAX_CLIENT_ID = 128
_ENDED_AT = {
    "canceled": "canceled_at",
    "expired": "expired_at",
    "rejected": "failed_at",
    "replaced": "replaced_at",
}


class AlpacaBook:
    def __init__(self, now_ms: Callable[[], int], account: Account) -> None:
        self.now_ms = now_ms
        self.accounts: dict[str, Account] = {account.id: account}
        self.trading_account_id = account.id  # the Trading API's one account
        self.orders: dict[str, Order] = {}
        self.by_client_id: dict[tuple[str, str], str] = {}  # (account, client id) -> order id
        self.activities: list[Activity] = []
        self.prices: dict[str, Decimal] = {}
        self.halted: set[str] = set()
        self.calendar: dict[date, CalendarDay] = {
            d.day: d for d in weekdays(date(2020, 1, 1), date(2030, 12, 31))
        }
        self.scripts: deque[Script] = deque()
        self.activities_status = 200  # another status: the activities endpoint answers that
        self.activities_lag = 0  # the newest fills the activities endpoint does not show yet

    def script_next(
        self, *steps: Step, at_accept: int = 0, on_cancel: tuple[Step, ...] = ()
    ) -> None:
        """The steps the next accepted order goes through, one per read; `at_accept` of them
        before the POST is answered; `on_cancel`: the steps after a cancel request, which then
        leaves the order pending_cancel (none: canceled at once)."""
        self.scripts.append(Script(tuple(steps), at_accept, on_cancel))

    def set_calendar(self, days: list[CalendarDay]) -> None:
        """The calendar from now on: these days and no other (a holiday is a day left out)."""
        self.calendar = {d.day: d for d in days}

    def add_account(self, account: Account) -> None:
        self.accounts[account.id] = account

    # -- orders --------------------------------------------------------------------------------

    def place(self, account_id: str, body: dict[str, object]) -> Order:
        account = self.account(account_id)
        order = self._checked(account, body)
        script = self.scripts.popleft() if self.scripts else self._default_script(order)
        order.steps.extend(script.steps)
        order.on_cancel = script.on_cancel
        self.orders[order.id] = order
        self.by_client_id[(account_id, order.client_order_id)] = order.id
        for _ in range(min(script.at_accept, len(order.steps))):
            self.advance(order)
        return order

    def read(self, account_id: str, order_id: str, *, advance: bool = True) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise OrderRefused(404, 40410000, "order not found")
        if advance and order.steps:
            self.advance(order)
        return order

    def read_by_client_id(self, account_id: str, client_order_id: str) -> Order:
        order_id = self.by_client_id.get((account_id, client_order_id))
        if order_id is None:
            raise OrderRefused(404, 40410000, "order not found")
        return self.read(account_id, order_id)

    def cancel(self, account_id: str, order_id: str) -> None:
        order = self.read(account_id, order_id, advance=False)
        if order.status not in CANCELABLE:
            raise OrderRefused(422, 42210000, f'order is already in "{order.status}" state')
        order.steps.clear()
        if order.on_cancel:
            order.steps.extend(order.on_cancel)
            self._set_status(order, "pending_cancel")
            return
        self._set_status(order, "canceled")

    def advance(self, order: Order) -> None:
        step = order.steps.popleft()
        if step.kind == "status":
            self._set_status(order, step.status)
            return
        quantity = step.quantity if step.quantity is not None else order.remaining
        price = step.price or order.limit_price or self.price(order.symbol)
        self._fill(order, quantity, price)

    def orders_of(self, account_id: str) -> list[Order]:
        return [o for o in self.orders.values() if o.account_id == account_id]

    # -- account -------------------------------------------------------------------------------

    def account(self, account_id: str) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise OrderRefused(404, 40410000, "account not found")
        return account

    def price(self, symbol: str) -> Decimal:
        found = self.prices.get(symbol)
        if found is None:
            raise OrderRefused(422, 40010001, f"asset {symbol} not found")
        return found

    def reserved_shares(self, account_id: str, symbol: str) -> Decimal:
        """Shares held back by open sell orders."""
        return sum(
            (
                o.remaining
                for o in self.orders_of(account_id)
                if o.symbol == symbol and o.side == "sell" and o.is_open
            ),
            ZERO,
        )

    def reserved_usd(self, account_id: str) -> Decimal:
        """Cash held back by open buy orders, at their limit or the market price."""
        return sum(
            (
                o.remaining * (o.limit_price or self.prices.get(o.symbol, ZERO))
                for o in self.orders_of(account_id)
                if o.side == "buy" and o.is_open
            ),
            ZERO,
        )

    def fills_shown(self, account_id: str, order_id: str | None) -> list[Activity]:
        """The FILL activities the endpoint shows now (the newest `activities_lag` held back)."""
        shown = self.activities[: len(self.activities) - self.activities_lag]
        return [
            a
            for a in shown
            if a.account_id == account_id and (order_id is None or a.order_id == order_id)
        ]

    def next_trading_day(self, after: date) -> date:
        day = after + timedelta(days=1)
        for _ in range(30):
            if day in self.calendar:
                return day
            day += timedelta(days=1)
        return day

    # -- inside --------------------------------------------------------------------------------

    def _checked(self, account: Account, body: dict[str, object]) -> Order:
        symbol = str(body.get("symbol") or "")
        side = str(body.get("side") or "")
        kind = str(body.get("type") or body.get("order_type") or "")
        tif = str(body.get("time_in_force") or "")
        client_id = str(body.get("client_order_id") or uuid.uuid4())
        if not symbol or side not in SIDES or kind not in TYPES or tif not in TIME_IN_FORCE:
            raise OrderRefused(422, 40010001, "invalid symbol, side, type or time_in_force")
        if len(client_id) > MAX_CLIENT_ID:
            raise OrderRefused(422, 40010001, "client_order_id must be at most 128 characters")
        if (account.id, client_id) in self.by_client_id:
            raise OrderRefused(422, 40010001, "client_order_id must be unique")
        qty = _quantity(body.get("qty"))
        limit = _limit_price(body.get("limit_price"), kind)
        extended = body.get("extended_hours") is True
        self._check_permissions(account, symbol, qty, kind, tif, extended)
        self._check_funds(account, symbol, side, qty, limit)
        now_ms = self.now_ms()
        return Order(
            id=str(uuid.uuid4()),
            account_id=account.id,
            client_order_id=client_id,
            symbol=symbol,
            side=side,
            type=kind,
            time_in_force=tif,
            qty=qty,
            limit_price=limit,
            extended_hours=extended,
            created_ms=now_ms,
            updated_ms=now_ms,
        )

    def _check_permissions(
        self, account: Account, symbol: str, qty: Decimal, kind: str, tif: str, extended: bool
    ) -> None:
        if account.status != "ACTIVE" or account.trading_blocked or account.account_blocked:
            raise OrderRefused(403, 40310000, "account is not allowed to trade")
        if symbol in self.halted:
            raise OrderRefused(422, 42210000, f"asset {symbol} is halted: trading is suspended")
        if extended and (kind != "limit" or tif != "day"):
            raise OrderRefused(422, 42210000, "extended hours order must be DAY limit orders")
        if extended and not account.extended_hours_allowed:
            raise OrderRefused(
                422, 42210000, "extended hours trading is not enabled for this account"
            )
        if not account.fractional_trading and qty != qty.to_integral_value():
            raise OrderRefused(422, 42210000, "fractional trading is not enabled")

    def _check_funds(
        self, account: Account, symbol: str, side: str, qty: Decimal, limit: Decimal | None
    ) -> None:
        price = limit or self.price(symbol)
        if side == "buy":
            buying_power = account.cash_usd - self.reserved_usd(account.id)
            cost = qty * price
            if cost > buying_power:
                raise OrderRefused(
                    403,
                    40310000,
                    "insufficient buying power",
                    buying_power=_text(buying_power),
                    cost_basis=_text(cost),
                )
            return
        held = account.positions.get(symbol, Position()).qty
        available = held - self.reserved_shares(account.id, symbol)
        if qty > available:
            raise OrderRefused(
                403,
                40310000,
                f"insufficient qty available for order (requested: {_text(qty)}, "
                f"available: {_text(available)})",
                symbol=symbol,
                available=_text(available),
            )

    def _fill(self, order: Order, quantity: Decimal, price: Decimal) -> None:
        now_ms = self.now_ms()
        cum = order.filled_qty + quantity
        if order.status not in KEEPS_STATUS_ON_FILL:
            order.status = "filled" if cum >= order.qty else "partially_filled"
            if order.status == "filled":
                order.ended_ms["filled_at"] = now_ms
        order.updated_ms = now_ms
        activity = Activity(
            id=_activity_id(now_ms),
            account_id=order.account_id,
            order_id=order.id,
            symbol=order.symbol,
            side=order.side,
            qty=quantity,
            price=price,
            cum_qty=cum,
            leaves_qty=max(order.qty - cum, ZERO),
            order_status=order.status,
            ts_ms=now_ms,
        )
        order.fills.append(activity)
        self.activities.append(activity)
        self._book(self.account(order.account_id), order.symbol, order.side, quantity, price)

    def _book(
        self, account: Account, symbol: str, side: str, quantity: Decimal, price: Decimal
    ) -> None:
        position = account.positions.setdefault(symbol, Position())
        if side == "buy":
            account.cash_usd -= quantity * price
            position.cost_usd += quantity * price
            position.qty += quantity
            return
        account.cash_usd += quantity * price
        if position.qty > 0:
            position.cost_usd -= position.cost_usd * min(quantity / position.qty, Decimal(1))
        position.qty -= quantity

    def _set_status(self, order: Order, name: str) -> None:
        order.status = name
        order.updated_ms = self.now_ms()
        stamp = _ENDED_AT.get(name)
        if stamp:
            order.ended_ms[stamp] = order.updated_ms

    def _default_script(self, order: Order) -> Script:
        return Script((fill(),) if order.type == "market" else ())


def _quantity(raw: object) -> Decimal:
    try:
        qty = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise OrderRefused(422, 40010001, "qty is required: a number of shares") from None
    if not qty.is_finite() or qty <= 0:
        raise OrderRefused(422, 40010001, "qty must be > 0")
    if qty != qty.quantize(QTY_STEP):
        raise OrderRefused(422, 40010001, "qty must have at most 9 decimal places")
    return qty


def _limit_price(raw: object, kind: str) -> Decimal | None:
    if kind == "market":
        if raw is not None:
            raise OrderRefused(422, 40010001, "limit_price is only for limit orders")
        return None
    try:
        price = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise OrderRefused(422, 40010001, "limit_price is required for limit orders") from None
    if not price.is_finite() or price <= 0:
        raise OrderRefused(422, 40010001, "limit_price must be > 0")
    return price


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _activity_id(now_ms: int) -> str:
    """Alpaca's form: a time stamp to the millisecond, then '::' and a UUID."""
    stamp = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y%m%d%H%M%S%f")[:17]
    return f"{stamp}000::{uuid.uuid4()}"

"""The records of the simulated Alpaca: accounts, positions, orders, FILL activities, and the
steps a test scripts an order through."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
# an order in one of these no longer reserves cash or shares
CLOSED = frozenset({"filled", "canceled", "expired", "rejected", "done_for_day", "replaced"})
# a fill on an order in one of these leaves its status as it is (a fill on a canceled order)
KEEPS_STATUS_ON_FILL = frozenset(
    {"canceled", "expired", "rejected", "done_for_day", "pending_cancel"}
)
# statuses an order may be canceled from (Alpaca refuses a DELETE of any other with 422)
CANCELABLE = frozenset(
    {"new", "accepted", "pending_new", "partially_filled", "held", "accepted_for_bidding"}
)


class OrderRefused(Exception):
    """A request Alpaca answers with an error status and its JSON error body."""

    def __init__(self, status: int, code: int, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, object] = {"code": code, "message": message, **extra}


@dataclass(frozen=True, slots=True)
class Step:
    """One change an order goes through: a fill (`quantity` None: what remains, `price` None:
    the limit price, else the symbol's price), or a new status."""

    kind: str  # "fill" | "status"
    quantity: Decimal | None = None
    price: Decimal | None = None
    status: str = ""


def fill(quantity: Decimal | str | None = None, price: Decimal | str | None = None) -> Step:
    return Step(
        "fill",
        Decimal(quantity) if quantity is not None else None,
        Decimal(price) if price is not None else None,
    )


def status(name: str) -> Step:
    return Step("status", status=name)


@dataclass(frozen=True, slots=True)
class Script:
    steps: tuple[Step, ...]
    at_accept: int = 0  # steps applied before the POST is answered
    # what a cancel does: () cancels at once; else the order is pending_cancel and goes
    # through these steps instead of the rest of its script (a fill racing the cancel)
    on_cancel: tuple[Step, ...] = ()


@dataclass(slots=True)
class Activity:
    """A FILL account activity: one execution of an order."""

    id: str
    account_id: str
    order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    cum_qty: Decimal
    leaves_qty: Decimal
    order_status: str
    ts_ms: int


@dataclass(slots=True)
class Order:
    id: str
    account_id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal
    limit_price: Decimal | None
    extended_hours: bool
    created_ms: int
    status: str = "accepted"
    updated_ms: int = 0
    ended_ms: dict[str, int] = field(default_factory=dict)  # "filled_at", "canceled_at", ...
    fills: list[Activity] = field(default_factory=list)
    steps: deque[Step] = field(default_factory=deque)
    on_cancel: tuple[Step, ...] = ()

    @property
    def filled_qty(self) -> Decimal:
        return sum((f.qty for f in self.fills), ZERO)

    @property
    def filled_avg_price(self) -> Decimal | None:
        filled = self.filled_qty
        if filled == 0:
            return None
        return sum((f.qty * f.price for f in self.fills), ZERO) / filled

    @property
    def remaining(self) -> Decimal:
        return max(self.qty - self.filled_qty, ZERO)

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED


@dataclass(slots=True)
class Position:
    qty: Decimal = ZERO
    cost_usd: Decimal = ZERO  # of the shares held, for avg_entry_price


@dataclass(slots=True)
class Account:
    id: str
    number: str
    cash_usd: Decimal
    unsettled_usd: Decimal = ZERO  # proceeds not settled: not in non_marginable_buying_power
    status: str = "ACTIVE"
    trading_blocked: bool = False
    account_blocked: bool = False
    trade_suspended_by_user: bool = False
    fractional_trading: bool = True
    extended_hours_allowed: bool = True
    positions: dict[str, Position] = field(default_factory=dict)

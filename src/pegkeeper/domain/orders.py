"""Orders, their states and fills.

An order's intent (`OrderIntent`) is fixed when pegkeeper chooses it; its life is a sequence of
state changes, each recorded, never edited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from pegkeeper.domain.errors import InvalidInput

CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{1,32}$")


def validate_client_id(client_id: str) -> str:
    """OKX accepts client ids of 1 to 32 alphanumerics; pegkeeper keeps to that everywhere."""
    if not CLIENT_ID_PATTERN.match(client_id):
        raise InvalidInput(f"client id {client_id!r} must be 1 to 32 letters or digits")
    return client_id


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderKind(StrEnum):
    MARKET = "market"
    CLOSE_POSITION = "close_position"
    LIMIT = "limit"
    POST_ONLY = "post_only"  # a limit order that is canceled rather than take liquidity

    @property
    def has_limit_price(self) -> bool:
        return self in (OrderKind.LIMIT, OrderKind.POST_ONLY)


class OrderState(StrEnum):
    CREATED = "created"  # stored, not yet known to have been sent
    ACCEPTED = "accepted"  # the venue acknowledged it
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"  # the venue refused it; it had no effect
    UNKNOWN = "unknown"  # the request's outcome is uncertain: look it up before anything else
    LOST = "lost"  # not found at the venue after the lookup window

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.LOST}
)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    client_order_id: str
    instrument_id: str
    kind: OrderKind
    side: OrderSide | None  # None for close-position, whose side the venue derives
    # close-position: the position's size when the close was decided (the venue closes what is
    # there, and its fills say how much that was)
    size_contracts: Decimal
    decision_id: str
    correlation_id: str
    created_at_ms: int
    limit_price_usd: Decimal | None = None  # limit and post-only orders only

    @property
    def slot(self) -> str:
        """What this order occupies while open: one open order per instrument."""
        return self.instrument_id

    def __post_init__(self) -> None:
        validate_client_id(self.client_order_id)
        if self.kind is OrderKind.CLOSE_POSITION:
            return
        if self.side is None or self.size_contracts <= 0:
            raise InvalidInput(f"a {self.kind} order needs a side and a positive size")
        has_price = self.limit_price_usd is not None and self.limit_price_usd > 0
        if self.kind.has_limit_price != has_price:
            raise InvalidInput(
                f"a {self.kind} order needs a positive limit price"
                if self.kind.has_limit_price
                else f"a {self.kind} order takes no limit price"
            )


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    client_order_id: str
    size_contracts: Decimal  # unsigned
    price_usd: Decimal
    fee: Decimal  # in the settlement currency; positive = paid by pegkeeper
    fee_currency: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The venue's view of one order."""

    client_order_id: str
    venue_order_id: str
    state: OrderState
    filled_contracts: Decimal = Decimal(0)
    avg_price_usd: Decimal | None = None
    fills: tuple[Fill, ...] = field(default_factory=tuple)
    message: str = ""


def maker_limit_price_usd(side: OrderSide, mark_price_usd: Decimal, tick_usd: Decimal) -> Decimal:
    """The price of a post-only order at the mark, on the tick grid on the maker's side of it:
    a sell rounded up, a buy rounded down, so that it rests rather than crosses the mark."""
    rounding = ROUND_CEILING if side is OrderSide.SELL else ROUND_FLOOR
    return (mark_price_usd / tick_usd).to_integral_value(rounding=rounding) * tick_usd

"""Fault injection of the OKX simulator: the failures that cost hedging bots money.

Counted faults hit the next N requests of their scope ("3"), or a share of them ("5%"); a
scope may follow a colon ("2:orders"). Scopes: `all` (every /api/v5 request), `orders` (order
placement and close-position), `reads` (GET requests).

| name | what happens |
|---|---|
| http_5xx | HTTP 503 before the request is processed |
| http_5xx_after_accept | the request is processed, then HTTP 502 |
| http_429 | HTTP 429 from the gateway, before processing |
| code_50011 | OKX's rate-limit answer, code 50011, before processing |
| timeout_after_accept | an order is executed, then the answer hangs `hang_seconds` |
| partial_fill | a market order fills half; the rest is filled (or canceled, see
  `partial_fill_then`) after `partial_fill_delay_seconds` |
| reject_order | an order is refused with 51008 (insufficient margin) |
| ws_silent (on/off) | WebSockets stay open and send nothing, not even pong |
| stale_tickers (on/off) | tickers, mark price and books freeze where they are |
| empty_positions (on/off) | /account/positions and the positions channel answer no position |
| latency_ms | every REST answer is delayed this long |
| order_delay_ms | an order request is held this long more before it is processed: it
  arrives late, past its expTime if that is shorter |
| ws_drop_every_seconds | every WebSocket is closed this often (0: never) |
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

COUNTED = (
    "http_5xx",
    "http_5xx_after_accept",
    "http_429",
    "code_50011",
    "timeout_after_accept",
    "partial_fill",
    "reject_order",
)
ORDER_ONLY = frozenset({"timeout_after_accept", "partial_fill", "reject_order"})
SWITCHES = ("ws_silent", "stale_tickers", "empty_positions")
NUMBERS = {
    "latency_ms": 0.0,
    "order_delay_ms": 0.0,
    "hang_seconds": 30.0,
    "partial_fill_delay_seconds": 1.0,
    "ws_drop_every_seconds": 0.0,
}
PARTIAL_FILL_THEN = ("fill", "cancel")
ON = {"on", "true", "1", "yes"}
OFF = {"off", "false", "0", "no"}


class Scope(StrEnum):
    ALL = "all"
    ORDERS = "orders"
    READS = "reads"


@dataclass(slots=True)
class Trigger:
    count: int = 0
    share: float = 0.0  # of the requests in scope, 0 to 1
    scope: Scope = Scope.ALL

    def applies(self, request_scopes: frozenset[Scope], rng: random.Random) -> bool:
        if self.scope not in request_scopes:
            return False
        if self.count > 0:
            self.count -= 1
            return True
        return self.share > 0 and rng.random() < self.share

    def describe(self) -> str:
        if self.count > 0:
            amount = str(self.count)
        elif self.share > 0:
            amount = f"{self.share * 100:g}%"
        else:
            return "off"
        return amount if self.scope is Scope.ALL else f"{amount}:{self.scope}"


class Faults:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self.triggers: dict[str, Trigger] = {}
        self.switches: dict[str, bool] = {}
        self.numbers: dict[str, float] = {}
        self.partial_fill_then = "fill"
        self.on_switch: Callable[[str, bool], None] | None = None  # told when a switch flips
        self.clear()

    def fire(self, name: str, request_scopes: frozenset[Scope]) -> bool:
        return self.triggers[name].applies(request_scopes, self._rng)

    def on(self, name: str) -> bool:
        return self.switches[name]

    def set(self, name: str, value: str) -> None:
        """Raises ValueError naming the fault and what was expected."""
        value = value.strip().lower()
        if name in self.triggers:
            self.triggers[name] = _trigger(name, value)
        elif name in self.switches:
            self._flip(name, _switch(name, value))
        elif name in self.numbers:
            self.numbers[name] = _number(name, value)
        elif name == "partial_fill_then":
            if value not in PARTIAL_FILL_THEN:
                raise ValueError(f"partial_fill_then: expected fill or cancel, got {value!r}")
            self.partial_fill_then = value
        else:
            known = [*COUNTED, *SWITCHES, *NUMBERS, "partial_fill_then"]
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(known)}")

    def set_many(self, settings: dict[str, str]) -> None:
        for name, value in settings.items():
            self.set(name, str(value))

    def clear(self) -> None:
        """Back to a healthy exchange."""
        self.triggers = {name: Trigger() for name in COUNTED}
        for name in [n for n, on in self.switches.items() if on]:
            self._flip(name, False)
        self.switches = dict.fromkeys(SWITCHES, False)
        self.numbers = dict(NUMBERS)
        self.partial_fill_then = "fill"

    def _flip(self, name: str, on: bool) -> None:
        changed = self.switches.get(name, False) != on
        self.switches[name] = on
        if changed and self.on_switch is not None:
            self.on_switch(name, on)

    def describe(self) -> dict[str, str]:
        described = {name: trigger.describe() for name, trigger in self.triggers.items()}
        described |= {name: "on" if on else "off" for name, on in self.switches.items()}
        described |= {name: f"{number:g}" for name, number in self.numbers.items()}
        described["partial_fill_then"] = self.partial_fill_then
        return described

    def active(self) -> dict[str, str]:
        """Only what differs from a healthy exchange."""
        healthy = Faults().describe()
        return {k: v for k, v in self.describe().items() if v != healthy[k]}


def parse_assignment(text: str) -> tuple[str, str]:
    """`name=value` (or `name` alone for a switch turned on)."""
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    return name, value if sep else "on"


def _trigger(name: str, value: str) -> Trigger:
    if value in OFF or value == "":
        return Trigger()
    amount, _, scope_text = value.partition(":")
    try:
        scope = Scope(scope_text or "all")
    except ValueError:
        raise ValueError(
            f"{name}: unknown scope {scope_text!r}; expected all, orders or reads"
        ) from None
    if name in ORDER_ONLY:
        scope = Scope.ORDERS
    try:
        if amount.endswith("%"):
            share = float(amount[:-1]) / 100
            if not 0 <= share <= 1:
                raise ValueError
            return Trigger(share=share, scope=scope)
        count = int(amount)
        if count < 0:
            raise ValueError
        return Trigger(count=count, scope=scope)
    except ValueError:
        raise ValueError(
            f"{name}: expected a count (3), a share (5%) or off, optionally :scope, got {value!r}"
        ) from None


def _switch(name: str, value: str) -> bool:
    if value in ON:
        return True
    if value in OFF:
        return False
    raise ValueError(f"{name}: expected on or off, got {value!r}")


def _number(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
    return number

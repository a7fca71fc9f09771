"""Hedge policies: from liability and exposure to an action. They decide; they never act.

The `stablesats` policy is Galoy stablesats' rule set, kept exactly (see specs/hedging.md) so that
an operator moving from stablesats gets the same behaviour.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Protocol

from pegkeeper.domain.orders import OrderSide


class ActionKind(StrEnum):
    HOLD = "hold"
    SELL = "sell"
    BUY = "buy"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class HedgeAction:
    """What to trade. `post_only`: as a maker (a post-only limit order at the mark), which the
    hedger turns into a market order when the venue cancels it or it rests too long."""

    kind: ActionKind
    size_contracts: Decimal = Decimal(0)
    post_only: bool = False

    @classmethod
    def hold(cls) -> HedgeAction:
        return _HOLD

    @classmethod
    def sell(cls, contracts: Decimal | int) -> HedgeAction:
        return cls(ActionKind.SELL, Decimal(contracts))

    @classmethod
    def buy(cls, contracts: Decimal | int) -> HedgeAction:
        return cls(ActionKind.BUY, Decimal(contracts))

    @classmethod
    def trade(cls, kind: ActionKind, contracts: Decimal | int, *, post_only: bool) -> HedgeAction:
        return cls(kind, Decimal(contracts), post_only)

    @classmethod
    def close(cls) -> HedgeAction:
        return cls(ActionKind.CLOSE)

    @property
    def is_hold(self) -> bool:
        return self.kind is ActionKind.HOLD

    @property
    def side(self) -> OrderSide | None:
        """The order side of a buy or a sell; None for hold and close."""
        if self.kind is ActionKind.BUY:
            return OrderSide.BUY
        return OrderSide.SELL if self.kind is ActionKind.SELL else None

    @property
    def signed_contracts(self) -> Decimal:
        """The order's signed size: a sell is negative; a close counts as none (it never
        needs margin)."""
        if self.kind is ActionKind.BUY:
            return self.size_contracts
        return -self.size_contracts if self.kind is ActionKind.SELL else Decimal(0)


_HOLD = HedgeAction(ActionKind.HOLD)  # the decision most often made: one instance


@dataclass(frozen=True, slots=True)
class HedgeInputs:
    liability_cents: int  # what the dealer owes, >= 0
    exposure_cents: int  # signed USD exposure on the venue: a short is negative
    contract_value_cents: Decimal  # 10 000 for a 100 USD inverse contract

    def __post_init__(self) -> None:
        if self.liability_cents < 0:
            raise ValueError(f"liability_cents must be >= 0, got {self.liability_cents}")
        if self.contract_value_cents <= 0:
            raise ValueError("contract_value_cents must be positive")

    @property
    def hedge_ratio(self) -> Decimal | None:
        """E / -L: 1 when the short exactly covers the liability; None when L is 0."""
        if self.liability_cents == 0:
            return None
        return Decimal(self.exposure_cents) / Decimal(-self.liability_cents)


@dataclass(frozen=True, slots=True)
class HedgeDecision:
    inputs: HedgeInputs
    action: HedgeAction
    rule: str  # which rule of the policy decided, for the audit trail
    policy: str


class HedgePolicy(Protocol):
    """For one exposure and contract value, the liabilities a policy holds at are one interval
    (it trades when the hedge is too small or too large for the liability, or the liability
    too small to hedge): the backtester's `HedgeCycle.would_act` relies on it."""

    @property
    def name(self) -> str: ...

    def decide(self, inputs: HedgeInputs) -> HedgeDecision: ...


@dataclass(frozen=True, slots=True)
class StablesatsHedgeParams:
    minimum_liability_threshold_cents: int = 5_000
    low_bound_ratio_shorting: Decimal = Decimal("0.95")
    low_safebound_ratio_shorting: Decimal = Decimal("0.98")
    high_safebound_ratio_shorting: Decimal = Decimal("1.00")
    high_bound_ratio_shorting: Decimal = Decimal("1.03")

    def __post_init__(self) -> None:
        ordered = (
            self.low_bound_ratio_shorting,
            self.low_safebound_ratio_shorting,
            self.high_safebound_ratio_shorting,
            self.high_bound_ratio_shorting,
        )
        if not all(a <= b for a, b in itertools.pairwise(ordered)) or ordered[0] <= 0:
            raise ValueError(
                "hedge brackets must satisfy 0 < low_bound <= low_safebound <= "
                f"high_safebound <= high_bound, got {[str(x) for x in ordered]}"
            )


def round_contracts(value: Decimal) -> int:
    """Nearest whole contract, halves to even (rust_decimal's `round`, which stablesats uses)."""
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class StablesatsHedgePolicy:
    params: StablesatsHedgeParams = field(default_factory=StablesatsHedgeParams)
    name: str = "stablesats"

    def decide(self, inputs: HedgeInputs) -> HedgeDecision:
        action, rule = self._action(inputs)
        return HedgeDecision(inputs, action, rule, self.name)

    def _action(self, inputs: HedgeInputs) -> tuple[HedgeAction, str]:
        p = self.params
        liability = Decimal(inputs.liability_cents)
        exposure_abs = Decimal(abs(inputs.exposure_cents))
        contract = inputs.contract_value_cents
        if inputs.liability_cents < p.minimum_liability_threshold_cents:
            if inputs.exposure_cents == 0:
                return HedgeAction.hold(), "below-threshold-flat"
            return HedgeAction.close(), "below-threshold-close"
        ratio = inputs.hedge_ratio
        assert ratio is not None  # liability >= threshold > 0
        if ratio < 0:
            size = round_contracts(
                (liability * p.low_safebound_ratio_shorting + exposure_abs) / contract
            )
            return _sized(ActionKind.SELL, size, "long-position-sell")
        if ratio < p.low_bound_ratio_shorting:
            size = round_contracts(
                (liability * p.low_safebound_ratio_shorting - exposure_abs) / contract
            )
            return _sized(ActionKind.SELL, size, "under-hedged-sell")
        if ratio > p.high_bound_ratio_shorting:
            size = round_contracts(
                (exposure_abs - liability * p.high_safebound_ratio_shorting) / contract
            )
            return _sized(ActionKind.BUY, size, "over-hedged-buy")
        return HedgeAction.hold(), "inside-brackets"


def _sized(kind: ActionKind, size: int, rule: str) -> tuple[HedgeAction, str]:
    if size <= 0:
        return HedgeAction.hold(), f"{rule}-rounds-to-zero"
    return HedgeAction(kind, Decimal(size)), rule

"""What the carry allocation keeps between its checks and leaves in the audit trail: the
legs' current weights with their version, and each decision with what it saw on every leg.

A leg is named by its configured instrument (`BTC-USD-QUARTERLY` for the rolling quarterly).
Before the first decision the whole liability is on the first leg, as the backtest starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.carry import CarryState
from pegkeeper.domain.errors import InvalidInput


def opening_weights(count: int) -> tuple[Decimal, ...]:
    """Everything on the first leg."""
    if count < 1:
        raise InvalidInput(f"an allocation has at least one leg, got {count}")
    return tuple(Decimal(1 if i == 0 else 0) for i in range(count))


@dataclass(frozen=True, slots=True)
class AllocationWeights:
    """The weights stored now: `version` counts their changes (0: none stored yet)."""

    version: int = 0
    by_leg: tuple[tuple[str, Decimal], ...] = ()
    updated_at_ms: int | None = None
    decision_id: str = ""  # the decision that set them

    def for_legs(self, legs: Sequence[str]) -> tuple[Decimal, ...] | None:
        """The weights in the order of `legs`; None when none are stored or the stored legs are
        not exactly these (the allocation was configured anew: the carry starts over)."""
        stored = dict(self.by_leg)
        if not stored or set(stored) != set(legs) or len(legs) != len(self.by_leg):
            return None
        return tuple(stored[leg] for leg in legs)

    def or_opening(self, legs: Sequence[str]) -> tuple[Decimal, ...]:
        found = self.for_legs(legs)
        return found if found is not None else opening_weights(len(legs))


@dataclass(frozen=True, slots=True)
class CarryLegInputs:
    """What a decision saw on one leg, and the weight it gave it."""

    leg: str  # the configured instrument
    instrument_id: str  # the one traded then (a rolling leg: the quarterly it held)
    weight_before: Decimal
    weight_after: Decimal
    carry_per_year: Decimal  # what a short earns, before costs
    net_carry_per_year: Decimal  # less a future's roll cost over its time to expiry
    trade_cost_bps: Decimal
    next_rate: Decimal | None = None  # a perpetual's: the next settlement's
    mean_rate: Decimal | None = None  # and the mean of the recent settlements
    settlements: int = 0  # in that mean
    future_usd: Decimal | None = None  # a future's mark
    spot_usd: Decimal | None = None  # the perpetual's mark it was measured against
    expiry_ms: int | None = None


@dataclass(frozen=True, slots=True)
class CarryDecisionRecord:
    decision_id: str
    created_at_ms: int
    rule: str
    version: int  # of the weights after it: one more than before when they changed
    changed: bool
    legs: tuple[CarryLegInputs, ...]
    move_from: str | None = None  # the carry rule's leg keys (venue:instrument)
    move_to: str | None = None
    move_share: Decimal | None = None  # of the liability
    gain_bps: Decimal | None = None  # of the move considered, over the horizon
    cost_bps: Decimal | None = None  # its trades and the margin

    @property
    def weights(self) -> tuple[Decimal, ...]:
        return tuple(leg.weight_after for leg in self.legs)

    @property
    def stored_weights(self) -> tuple[tuple[str, Decimal], ...]:
        return tuple((leg.leg, leg.weight_after) for leg in self.legs)


def state_after(last_move: CarryDecisionRecord | None) -> CarryState:
    """The rule's memory, from the newest decision that moved weight."""
    if last_move is None or last_move.move_to is None:
        return CarryState()
    return CarryState(last_step_ms=last_move.created_at_ms, moving_to=last_move.move_to)

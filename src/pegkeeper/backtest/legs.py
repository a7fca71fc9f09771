"""The hedgers of a run, one per leg of the allocation, and when each is woken.

Each leg is a production hedge cycle (services/hedging/cycle.py) over its share of the
liability. The runner wakes a leg as production would, without the cycles that could only
hold: when its inputs change it asks the leg's hedger whether its policy would trade on them
(`would_act`) and runs the cycle only then; a cycle that left the position as it was (an order
refused, or resting) is tried again at the periodic check; a leg waiting on an order in flight
is woken when it asked to be (`recheck_in_seconds`). A leg of dated futures is also woken when
the quarterly it holds is due to roll.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.allocation import HedgeLeg, quarterly_to_hold
from pegkeeper.domain.venue import VenuePosition
from pegkeeper.services.hedging.cycle import HedgeCycle

Inputs = tuple[object, ...]


@dataclass(slots=True)
class LegRun:
    leg: HedgeLeg
    hedger: HedgeCycle
    roll_lead_ms: int
    size: Decimal = Decimal(0)  # contracts on every instrument of the leg, signed
    due_ms: int | None = None  # an order in flight: looked at again then
    quiet: Inputs | None = None  # the inputs on which the policy last held
    quiet_until_ms: int | None = None  # a held cycle with these inputs is retried then
    next_roll_ms: int | None = None  # a rolling leg's next roll, from its first cycle on

    @property
    def rolls(self) -> bool:
        return self.leg.rolls

    def owns(self, instrument_id: str) -> bool:
        return self.leg.owns(instrument_id)

    def roll_due_ms(self, now_ms: int) -> int | None:
        """When the quarterly this leg holds now stops being the one to hold."""
        if not self.rolls:
            return None
        return quarterly_to_hold(now_ms, self.roll_lead_ms) - self.roll_lead_ms

    def wants_cycle(
        self, now_ms: int, liability_cents: int, mark: Decimal, inverse: bool
    ) -> tuple[bool, str | None]:
        """Whether to run a cycle now, and the reason to give it (None: the caller's)."""
        due = self.due_ms
        if due is not None:
            if now_ms < due:
                return False, None  # an order in flight: nothing else is looked at meanwhile
            self.due_ms = None
            return True, "recheck"
        share = self.hedger.share_cents(liability_cents)
        inputs = self._inputs_of(share, mark, inverse)
        waiting = self.quiet_until_ms is None or now_ms < self.quiet_until_ms
        if inputs == self.quiet and waiting:
            return False, None
        position = VenuePosition(self.leg.instrument_id, self.size, None, mark)
        if not self.hedger.would_act(share, position):
            self.quiet, self.quiet_until_ms = inputs, None
            return False, None
        return True, None

    def inputs(self, liability_cents: int, mark: Decimal, inverse: bool) -> Inputs:
        """What the policy decides on: the leg's share moves with the weights too."""
        return self._inputs_of(self.hedger.share_cents(liability_cents), mark, inverse)

    def _inputs_of(self, share_cents: int, mark: Decimal, inverse: bool) -> Inputs:
        return (share_cents, self.size) if inverse else (share_cents, self.size, mark)

    def held_still(self, inputs: Inputs, now_ms: int, interval_ms: int) -> None:
        """A cycle left the position as it was: the periodic check retries it."""
        self.quiet = inputs
        self.quiet_until_ms = now_ms + interval_ms

    def recheck(self, due_ms: int) -> None:
        if self.due_ms is None or due_ms < self.due_ms:
            self.due_ms = due_ms

    def wake(self) -> None:
        """Something the cycle cannot see from its inputs changed (the weights): look again."""
        self.quiet, self.quiet_until_ms = None, None

"""The carry allocation in a backtest: the legs' weights moved by domain/carry.py as the run's
funding and futures prices change.

The run starts with the whole liability on its first leg (the perpetual). Every `check_every`
of the run's clock, once no leg has an order in flight (the last step has filled), the carry
rule is asked for the weights, from what each leg's short would earn: the perpetual's next
funding rate (the one the simulated exchange will settle next, as venues publish it) blended
with the mean of the settlements of the last `funding_window`, and the held quarterly's basis
against spot, annualised. A change of the weights wakes every leg's hedger; the one that
takes weight trades first.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from pegkeeper.backtest.funding_rates import (
    FUNDING_INTERVAL_MS,
    FundingFileError,
    boundaries_between,
)
from pegkeeper.config.carry import CarrySettings
from pegkeeper.domain.allocation import quarterly_instrument_id, quarterly_to_hold
from pegkeeper.domain.carry import (
    CarryLeg,
    CarryParams,
    CarryState,
    decide_carry,
    future_carry_per_year,
    perpetual_carry_per_year,
)
from pegkeeper.domain.instruments import InstrumentKind
from pegkeeper.domain.units import HOUR_MS

if TYPE_CHECKING:
    from pegkeeper.backtest.runner import PolicyRun

CHECK_EVERY_MS = 60_000  # once a bar


class CarryRun:
    def __init__(self, run: PolicyRun, settings: CarrySettings, roll_lead_hours: float) -> None:
        self._run = run
        self._settings = settings
        self._params: CarryParams = settings.params(roll_lead_hours)
        self._lead_ms = int(roll_lead_hours * HOUR_MS)
        self._window_ms = int(settings.funding_window_hours * HOUR_MS)
        self._trade_bps = settings.trade_cost_bps(run.settings.costs.taker_fee_rate)
        legs = run.allocation.legs
        self._weights: tuple[Decimal, ...] = tuple(
            Decimal(1) if i == 0 else Decimal(0) for i in range(len(legs))
        )
        self._state = CarryState()
        self._next_check_ms = 0
        self.decisions: list[tuple[int, str, tuple[Decimal, ...]]] = []  # moves, for the report

    def weights(self) -> Sequence[Decimal]:
        return self._weights

    def check(self, now_ms: int) -> bool:
        """True when the weights changed."""
        if now_ms < self._next_check_ms or any(leg.due_ms is not None for leg in self._run.legs):
            return False
        self._next_check_ms = now_ms + CHECK_EVERY_MS
        decision = decide_carry(self._legs(now_ms), now_ms, self._state, self._params)
        self._state = decision.next_state(now_ms, self._state)
        if decision.weights == self._weights:
            return False
        self._weights = decision.weights
        self.decisions.append((now_ms, decision.rule, decision.weights))
        return True

    def _legs(self, now_ms: int) -> list[CarryLeg]:
        legs = []
        for leg, weight in zip(self._run.allocation.legs, self._weights, strict=True):
            if leg.rolls:
                expiry_ms = quarterly_to_hold(now_ms, self._lead_ms)
                held = quarterly_instrument_id(now_ms, self._lead_ms)
                future = self._run.engine.mark_price_usd(held)
                spot = self._run.engine.mark_price_usd(self._run.instrument.instrument_id)
                assert future is not None and spot is not None
                carry = future_carry_per_year(future, spot, now_ms, expiry_ms)
                kind = InstrumentKind.FUTURE
            else:
                carry, expiry_ms, kind = self._funding_carry(now_ms), None, InstrumentKind.SWAP
            legs.append(
                CarryLeg(
                    leg.instrument_id, leg.venue, kind, carry, self._trade_bps, weight, expiry_ms
                )
            )
        return legs

    def _funding_carry(self, now_ms: int) -> Decimal:
        """The perpetual's: the next settlement's rate and the mean of the recent ones (those
        the file has: before the path it may have none)."""
        settled = [
            rate
            for boundary in boundaries_between(now_ms - self._window_ms, now_ms)
            if (rate := self._rate(boundary)) is not None
        ]
        next_rate = self._rate((now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS)
        mean = sum(settled, Decimal(0)) / len(settled) if settled else None
        next_rate = next_rate if next_rate is not None else mean or Decimal(0)
        mean = mean if mean is not None else next_rate
        return perpetual_carry_per_year(next_rate, mean, 8, self._settings.funding_blend)

    def _rate(self, boundary_ms: int) -> Decimal | None:
        try:
            return self._run.inputs.funding.rate_at(boundary_ms)
        except FundingFileError:
            return None

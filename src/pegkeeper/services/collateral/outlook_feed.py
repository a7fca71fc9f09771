"""What the funding manager tells the outlook estimator of a policy that reads the recent past
(liquidation-floor): every mark it is told or reads, the liability share it is told or reads,
the deposits credited; and the estimator's reading of now, set in the account state's inputs.
For a policy that reads none, every call is one comparison."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from pegkeeper.domain.outlook import OutlookEstimator, OutlookParams
from pegkeeper.ports import Clock
from pegkeeper.services.collateral.reading import AccountState


class OutlookFeed:
    def __init__(self, params: OutlookParams | None, clock: Clock) -> None:
        self._estimator = None if params is None else OutlookEstimator(params)
        self._clock = clock
        self.reads = params is not None  # whether the policy reads an outlook at all

    def price(self, mark_price_usd: Decimal) -> None:
        if self._estimator is not None:
            self._estimator.observe_price(self._clock.now_ms(), mark_price_usd)

    def liability(self, liability_cents: int) -> None:
        if self._estimator is not None:
            self._estimator.observe_liability(self._clock.now_ms(), liability_cents)

    def deposit_credited(self, sent_ms: int, credited_ms: int) -> None:
        if self._estimator is not None:
            self._estimator.observe_deposit(sent_ms, credited_ms)

    def read(self, state: AccountState) -> AccountState:
        """A fresh reading of the account: its mark and liability seen, the outlook set."""
        if self._estimator is None:
            return state
        self.price(state.reading.mark_price_usd)
        self.liability(state.liability_cents)
        return self.applied(state)

    def applied(self, state: AccountState) -> AccountState:
        """`state` with the estimator's reading of now: the same object while the reading has
        not changed, so that the quiet band found for it stays."""
        if self._estimator is None:
            return state
        outlook = self._estimator.outlook(self._clock.now_ms())
        if state.inputs.outlook is outlook:
            return state
        return replace(state, inputs=replace(state.inputs, outlook=outlook))

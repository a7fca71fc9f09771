"""The `maker-band` hedge policy: an exact hedge kept inside a band counted in contracts,
trading as a maker while the gap is small and as a taker when it is not.

Where it differs from `stablesats`, and why:

1. Target ratio 1. The hedge is brought back to the whole liability (round(L / contract)
   contracts), not to 0.98 of it. Stablesats' safebound leaves 2 % of the book unhedged after
   every sell, up to 5 % before its lower bracket fires; in a crash with users fleeing into
   USD the liability grows while the price falls, and that part is lost with the price.
2. A band in contracts. Nothing is traded while the gap between the target and the short is
   at most max(min_band_contracts, band_ratio * target) contracts (2 contracts, 2 % by
   default). For a large book that is the ratio; for a small one it is whole contracts, so
   that a book of a few dozen contracts does not trade back and forth on every small flow as
   ratio brackets of a fraction of a contract make stablesats do. Flows that come and go
   inside the band net out without an order.
3. Maker orders when the tracking error allows. A gap beyond the band but within
   max(min_urgent_contracts, urgent_ratio * target) (4 contracts, 4 %) is closed with a
   post-only limit order at the mark: the maker fee and no spread. Beyond that urgent bound
   (a burst of flows, a position on the wrong side) it is closed at once with a market order.
   The hedger cancels a resting post-only order after its timeout, or as soon as the gap has
   grown past the urgent bound, and decides again; after a post-only order the venue refused
   (it would have taken liquidity) the next order is a market one.
4. Below minimum_liability_threshold_cents the position is closed, as stablesats does.

The inputs are stablesats' (liability, signed exposure, a contract's value), so the policy
runs in the same hedger, on any instrument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.domain.hedge_policy import (
    ActionKind,
    HedgeAction,
    HedgeDecision,
    HedgeInputs,
    round_contracts,
)

BAND_POLICY_NAME = "maker-band"


@dataclass(frozen=True, slots=True)
class BandHedgeParams:
    minimum_liability_threshold_cents: int = 5_000
    band_ratio: Decimal = Decimal("0.02")  # no trade while the gap is within this share ...
    min_band_contracts: int = 2  # ... or within this many contracts, whichever is larger
    urgent_ratio: Decimal = Decimal("0.04")  # beyond this share (or contracts): market order
    min_urgent_contracts: int = 4

    def __post_init__(self) -> None:
        if self.minimum_liability_threshold_cents < 0:
            raise ValueError("minimum_liability_threshold_cents must be >= 0")
        if not 0 <= self.band_ratio <= self.urgent_ratio < 1:
            raise ValueError(
                "expected 0 <= band_ratio <= urgent_ratio < 1, "
                f"got band_ratio {self.band_ratio}, urgent_ratio {self.urgent_ratio}"
            )
        if not 0 <= self.min_band_contracts <= self.min_urgent_contracts:
            raise ValueError(
                "expected 0 <= min_band_contracts <= min_urgent_contracts, got "
                f"{self.min_band_contracts} and {self.min_urgent_contracts}"
            )


@dataclass(frozen=True, slots=True)
class BandHedgePolicy:
    params: BandHedgeParams = field(default_factory=BandHedgeParams)
    name: str = BAND_POLICY_NAME

    def decide(self, inputs: HedgeInputs) -> HedgeDecision:
        action, rule = self._action(inputs)
        return HedgeDecision(inputs, action, rule, self.name)

    def _action(self, inputs: HedgeInputs) -> tuple[HedgeAction, str]:
        p = self.params
        if inputs.liability_cents < p.minimum_liability_threshold_cents:
            if inputs.exposure_cents == 0:
                return HedgeAction.hold(), "below-threshold-flat"
            return HedgeAction.close(), "below-threshold-close"
        contract = inputs.contract_value_cents
        target = Decimal(round_contracts(Decimal(inputs.liability_cents) / contract))
        short = Decimal(-inputs.exposure_cents) / contract  # negative when long
        gap = target - short  # positive: sell more
        band = max(Decimal(p.min_band_contracts), p.band_ratio * target)
        if abs(gap) <= band:
            return HedgeAction.hold(), "inside-band"
        size = round_contracts(abs(gap))
        if size <= 0:
            return HedgeAction.hold(), "gap-rounds-to-zero"
        urgent = max(Decimal(p.min_urgent_contracts), p.urgent_ratio * target)
        kind, side = (ActionKind.SELL, "under") if gap > 0 else (ActionKind.BUY, "over")
        if abs(gap) > urgent:
            return HedgeAction.trade(kind, size, post_only=False), f"{side}-hedged-market"
        return HedgeAction.trade(kind, size, post_only=True), f"{side}-hedged-post-only"

"""The seam between the backtester and what keeps the hedge's collateral, and the collateral a
run starts with.

`FundingStep` is what the runner asks of it: told every mark price and every change of the
liability, it says whether it wants a cycle now (cheaply, without reading the venue); a cycle
reads, decides and acts through the venue and the clock. The production collateral manager
(services/collateral/manager.py) has this shape (`on_price`, `on_liability`, `cycle`);
service_funding.py runs it over the run's simulated exchange and chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from pegkeeper.domain.collateral_policy import CollateralInputs, CollateralPolicy
from pegkeeper.domain.floor_policy import LiquidationFloorPolicy
from pegkeeper.domain.outlook import OutlookEstimator

NOMINAL_MARK_USD = Decimal(10_000)
NOMINAL_LIABILITY_CENTS = 100_000_000


class FundingStep(Protocol):
    def on_price(self, mark_price_usd: Decimal) -> bool:
        """A new mark price; True when a cycle is wanted now. Reads nothing from the venue."""
        ...

    def on_liability(self, total_liability_cents: int) -> bool:
        """A new liability; True when a cycle is wanted now. Reads nothing from the venue."""
        ...

    async def cycle(self, reason: str, correlation_id: str | None = None) -> object:
        """Read the account, decide, act (transfers, deposits, withdrawals)."""
        ...


@dataclass(frozen=True, slots=True)
class CollateralSettings:
    """The collateral in place before the first tick: the liability over `target_leverage`
    in the trading account, and `funding_reserve_share` of that in the funding account. From
    there the funding manager keeps it by its own policy (`[funding]`)."""

    target_leverage: Decimal = Decimal(3)
    funding_reserve_share: Decimal = Decimal("0.5")

    @classmethod
    def wanted_by(cls, policy: CollateralPolicy) -> CollateralSettings | None:
        """The collateral the policy wants at the start, when it says (liquidation-floor: its
        target and its reserve's target, for the liability hedged in full and nothing seen
        yet), so that the first cycle moves nothing; None when it does not. Both amounts are
        proportional to the liability (in BTC, to its value at the mark), so a nominal
        liability and mark tell the leverage and the share."""
        if not isinstance(policy, LiquidationFloorPolicy):
            return None
        inverse = policy.params.inverse
        mark, cents = NOMINAL_MARK_USD, NOMINAL_LIABILITY_CENTS
        calm = OutlookEstimator(policy.outlook).outlook(0)
        price_cents = mark * 100 if inverse else Decimal(100)
        zero = Decimal(0)
        inputs = CollateralInputs(
            cents, -cents, price_cents, zero, zero, mark_price_usd=mark, outlook=calm
        )
        trading, funding = policy.wanted(inputs)
        notional = Decimal(cents) / price_cents
        return cls(target_leverage=notional / trading, funding_reserve_share=funding / trading)

    def __post_init__(self) -> None:
        if self.target_leverage <= 0:
            raise ValueError(f"target_leverage must be positive, got {self.target_leverage}")
        if self.funding_reserve_share < 0:
            raise ValueError("funding_reserve_share must be >= 0")

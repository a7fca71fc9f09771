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

    def __post_init__(self) -> None:
        if self.target_leverage <= 0:
            raise ValueError(f"target_leverage must be positive, got {self.target_leverage}")
        if self.funding_reserve_share < 0:
            raise ValueError("funding_reserve_share must be >= 0")

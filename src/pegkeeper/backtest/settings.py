"""What a backtest runs on: its settings and its inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pegkeeper.backtest.costs import CostModel
from pegkeeper.backtest.flows import Flows
from pegkeeper.backtest.funding_rates import FundingSchedule
from pegkeeper.backtest.funding_step import CollateralSettings
from pegkeeper.backtest.metrics import Brackets
from pegkeeper.backtest.prices import PricePath
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.instruments import BTC_USD_SWAP, BTC_USDT_SWAP
from pegkeeper.services.hedging.hedger import HedgerSettings

if TYPE_CHECKING:
    from pegkeeper.backtest.futures_market import BasisModel

INSTRUMENTS = {i.instrument_id: i for i in (BTC_USD_SWAP, BTC_USDT_SWAP)}


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    instrument_id: str = BTC_USD_SWAP.instrument_id
    initial_liability_usd: Decimal = Decimal(1_000_000)
    exchange_leverage: int = 4
    maintenance_margin_rate: Decimal = Decimal("0.004")
    costs: CostModel = field(default_factory=CostModel)
    collateral: CollateralSettings = field(default_factory=CollateralSettings)
    hedger: HedgerSettings = field(default_factory=HedgerSettings)
    brackets: Brackets = field(default_factory=Brackets)
    max_abs_delta_cents: int = 100_000_000
    funding_check_interval_seconds: float = 600.0
    # Several legs (a rolling quarterly beside the perpetual, say); None: the perpetual alone.
    allocation: Allocation | None = None
    basis: BasisModel | None = None  # prices the dated futures of a rolling leg
    # Moves the legs' weights during the run (the carry allocation), built for each run.
    carry_factory: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if self.instrument_id not in INSTRUMENTS:
            raise ValueError(
                f"instrument {self.instrument_id!r} cannot be backtested; "
                f"expected one of {', '.join(INSTRUMENTS)}"
            )
        if self.initial_liability_usd < 0:
            raise ValueError("initial_liability_usd must be >= 0")
        if self.funding_check_interval_seconds <= 0:
            raise ValueError("funding_check_interval_seconds must be positive")


@dataclass(frozen=True, slots=True)
class BacktestInputs:
    path: PricePath
    flows: Flows
    funding: FundingSchedule

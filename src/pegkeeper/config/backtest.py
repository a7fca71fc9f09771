"""Settings of `pegkeeper backtest`: `[backtest]`, `[backtest.book]`, `[backtest.collateral]`.

The policies and the hedger's own settings come from `[hedger]`, as in production.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pegkeeper.config.basis import BasisSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BacktestBookSettings(_Section):
    """The book each order meets, per minute (backtest/costs.py)."""

    base_half_spread_bps: float = Field(0.25, ge=0)
    range_half_spread_share: float = Field(0.02, ge=0)  # of the minute's high-low range
    depth_share: float = Field(0.5, gt=0)  # of the minute's traded notional, within `levels`
    levels: int = Field(20, ge=1)
    level_step_bps: float = Field(1.0, gt=0)
    min_level_contracts: int = Field(50, ge=1)
    volume_unit: Literal["base", "quote"] = "base"  # the price file's volume: BTC, or USD


class BacktestCollateralSettings(_Section):
    """The collateral a run starts with (backtest/funding_step.py); `[funding]` keeps it."""

    target_leverage: Decimal = Field(Decimal(3), gt=0)
    funding_reserve_share: Decimal = Field(Decimal("0.5"), ge=0)
    # true: a funding policy that says what it wants at the start (liquidation-floor) sizes
    # both accounts, and the two numbers above are not used
    from_policy: bool = True


class BacktestSettingsModel(_Section):
    instrument_id: Literal["BTC-USD-SWAP", "BTC-USDT-SWAP"] = "BTC-USD-SWAP"
    initial_liability_usd: Decimal = Field(Decimal(1_000_000), ge=0)
    flows: str = "poisson"  # none | poisson[:key=value,...] | a CSV file (see README)
    funding_rate: Decimal = Decimal("0.0001")  # per 8 h when no funding file is given
    exchange_leverage: int = Field(4, ge=1, le=100)
    maintenance_margin_rate: Decimal = Field(Decimal("0.004"), ge=0, lt=1)
    taker_fee_rate: Decimal = Field(Decimal("0.0005"), ge=0, lt=1)
    maker_fee_rate: Decimal = Field(Decimal("0.0002"), ge=-1, lt=1)
    latency_ms: int = Field(250, ge=0)
    transfer_fee: Decimal = Field(Decimal(0), ge=0)  # per transfer, settlement currency
    withdrawal_fee_btc: Decimal = Field(Decimal("0.0001"), ge=Decimal("0.0001"))
    withdrawal_fee_usdt: Decimal = Field(Decimal(1), ge=1)
    deposit_minutes: float = Field(30.0, ge=0)
    funding_check_interval_seconds: float = Field(600.0, gt=0)
    wallet_btc: Decimal = Field(Decimal(1_000), ge=0)  # the operator's onchain coins
    bracket_low: Decimal = Field(Decimal("0.95"), gt=0)  # the band "time outside" is held to
    bracket_high: Decimal = Field(Decimal("1.03"), gt=0)
    # the choice among the runs (backtest/choice.py): a run qualifies when never liquidated
    # and at least this far from liquidation (% of the mark) ...
    liquidation_floor_pct: float = Field(20.0, ge=0, lt=100)
    # ... and the closest tracker wins unless it costs more than this % above the cheapest
    choice_cost_tolerance_pct: float = Field(10.0, ge=0)
    book: BacktestBookSettings = BacktestBookSettings()
    collateral: BacktestCollateralSettings = BacktestCollateralSettings()
    basis: BasisSettings = BasisSettings()  # prices the dated futures of a rolling leg

    @model_validator(mode="after")
    def _check_brackets(self) -> BacktestSettingsModel:
        if self.bracket_low > self.bracket_high:
            raise ValueError(
                f"expected bracket_low <= bracket_high, got {self.bracket_low} > "
                f"{self.bracket_high}"
            )
        return self

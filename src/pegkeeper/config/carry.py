"""`[allocation.carry]`: the carry-aware allocation of the hedge across legs (domain/carry.py,
whose docstring states the rule).

Defaults, and why:
- `horizon_hours` 72: a move must pay for itself within three days of carry.
- `funding_blend` 0.3 and `funding_window_hours` 72: the perpetual's expected funding is 0.3
  of the next settlement's rate and 0.7 of the mean of the last 72 hours. On calm months a
  blend of 0.5 forecasts the mean funding of the next 72 hours best (the real 8-hourly
  histories of the shared data, Binance 2020-2026, Bybit and KuCoin 2021-2023: mean absolute
  error 4.9 %/yr, against 5.9 with the next rate only or the 72-hour mean only); but a single
  settlement's spike then moves the hedge into futures sold at a crash discount, to come back
  when the spike is gone (Binance's -0.3 % of 13 March 2020), while one of the horizon's nine
  settlements (0.11) learns of a clamp lasting days (BitMEX's -0.375 %) too late. 0.3 was the
  best of 0.11, 0.2, 0.3 and 0.5 on the four crash paths of the data (README, "Backtests"):
  chosen on the same paths it is judged on. The window of 72 hours (9 settlements) is the
  best of 24 hours to 30 days.
- `margin_bps` 5: the typical error of that forecast over the horizon (4.9 %/yr for 3 days is
  4 bps on Binance, about 7 on Bybit, Gate and KuCoin), so that a move is not made on noise.
- `min_hold_hours` 24: at most one new move a day; steps of a move follow each other.
- `max_step_share` 0.02: the caller opens the new leg before it closes the old, so a step
  over-covers the liability for a moment; 2 % stays inside stablesats' high bracket of 1.03
  from its usual 0.98 to 1.00.
- `slippage_bps` 2: expected slippage of each order of a move beyond the venue's fee; a
  guess (half spread and depth of a liquid BTC perpetual for an order of a few ten thousand
  USD), not calibrated.
- `check_interval_seconds` 60: how often the production carry allocator
  (services/hedging/carry.py) looks, as the backtest does once a bar.
- `taker_fee_rate` 0.0005: the venue's taker fee, OKX's base tier for swaps and futures; on
  the simulator its own `[sim] taker_fee_rate` is used instead.
The roll lead of the futures is `[allocation] roll_lead_hours`.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from pegkeeper.domain.carry import CarryParams
from pegkeeper.domain.units import HOUR_MS


class CarrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False  # false: the legs keep the weights of [allocation] legs
    horizon_hours: float = Field(72.0, gt=0, le=24 * 365)
    margin_bps: Decimal = Field(Decimal(5), ge=0, le=10_000)
    min_hold_hours: float = Field(24.0, ge=0, le=24 * 365)
    max_step_share: Decimal = Field(Decimal("0.02"), gt=0, le=1)
    funding_blend: Decimal = Field(Decimal("0.3"), ge=0, le=1)  # of the next rate, vs the mean
    funding_window_hours: float = Field(72.0, gt=0, le=24 * 365)  # of the trailing mean
    slippage_bps: Decimal = Field(Decimal(2), ge=0, le=10_000)  # per order, beyond the fee
    check_interval_seconds: float = Field(60.0, gt=0)  # the production allocator's checks
    taker_fee_rate: Decimal = Field(Decimal("0.0005"), ge=0, lt=1)  # a real venue's taker fee

    def params(self, roll_lead_hours: float) -> CarryParams:
        return CarryParams(
            horizon_ms=int(self.horizon_hours * HOUR_MS),
            margin_bps=self.margin_bps,
            min_hold_ms=int(self.min_hold_hours * HOUR_MS),
            max_step_share=self.max_step_share,
            funding_blend=self.funding_blend,
            roll_lead_ms=int(roll_lead_hours * HOUR_MS),
        )

    def trade_cost_bps(self, fee_rate: Decimal) -> Decimal:
        """One way into or out of a leg: the venue's fee (a fraction) and the slippage."""
        return fee_rate * 10_000 + self.slippage_bps

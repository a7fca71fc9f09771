"""`[backtest.basis]`: the price of a dated BTC future in the backtester (backtest/basis.py).

    basis = F / S - 1 = annualised(tau) * tau - discount(drawdown) * fade(tau)
    annualised(tau) = level_per_year + slope_per_year * min(tau, max_term_days)   (tau in years)
    discount(dd)    = crash_slope * max(0, dd - crash_threshold)
    fade(tau)       = min(1, tau / crash_fade_days)

`dd` is the price's drawdown from its highest over the last `crash_window_hours`. The
defaults are the numbers `backtest/basis_calibration.py` fits on the real CME data of the
shared data set (`futures/`, `funding/deribit-btc-perp-funding-1h-2019_2021.csv`,
`btc/binance-btcusdt-1m-2022-11-07_10.csv`); the product does not ship that data, so the
fitted numbers are written here, rounded, and a test re-fits them:

- `level_per_year` 0.102 and `slope_per_year` -0.063: a least-squares line through the median
  annualised basis of each maturity against the Deribit index at the CME settlement (15:00
  Chicago), 2019-04-30 to 2021-02-24: the front month (median 15 days to expiry, median
  +0.372 %, 9.0 %/yr) and the constant-maturity curve 1M to 6M (medians +0.88, +1.55, +2.17,
  +2.72, +3.07, +3.54 %: 10.6 down to 7.1 %/yr). The curve flattens with maturity.
- `max_term_days` 183: the longest maturity fitted (6M); further out the annualised basis is
  held at its 6-month value instead of extrapolating the line.
- `crash_window_hours` 72: chosen, not fitted: a 72-hour high puts the day after a crash
  (2020-03-13, when the discount was largest) at its full drawdown, which a 24-hour one does
  not; 48 to 96 hours fit about as well, a week or a month worse.
- `crash_threshold` 0.225 and `crash_slope` 0.30: fitted by least squares (threshold on a
  0.005 grid) on the deviation of the basis from the term structure against the drawdown, on
  every front-month day above, the 3-month basis on 2020-03-12/13, and the front month on
  2022-11-09/10 against the Binance perpetual at 16:00 Chicago (-0.55 %, -0.38 %: the Yahoo
  closes of those days match 16:00, not the 15:00 settlement, whose -3.71 % and -1.77 % the
  2020 crash, deeper and with a smaller discount, does not support). Days with a drawdown
  below 22.5 % show no discount (2019-06-27: 22 % down, basis above normal).
- `crash_fade_days` 7: not from data (every calibration day is 14 or more days from expiry):
  the discount shrinks to nothing over the last week so that the price meets spot at expiry.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pegkeeper.domain.units import DAY_MS, YEAR_MS

DAYS_PER_YEAR = Decimal(YEAR_MS // DAY_MS)


class BasisSettings(BaseModel):
    """The basis of a dated BTC future: term structure and crash discount (see module doc)."""

    model_config = ConfigDict(extra="forbid")

    level_per_year: Decimal = Field(Decimal("0.102"), gt=-1, lt=1)
    slope_per_year: Decimal = Field(Decimal("-0.063"), gt=-1, lt=1)  # per year of maturity
    max_term_days: int = Field(183, gt=0, le=730)
    crash_window_hours: float = Field(72.0, gt=0, le=24 * 90)
    crash_threshold: Decimal = Field(Decimal("0.225"), ge=0, lt=1)  # drawdown, a fraction
    crash_slope: Decimal = Field(Decimal("0.30"), ge=0)  # discount per unit of drawdown beyond
    crash_fade_days: float = Field(7.0, gt=0, le=90)  # > 0: F meets S at expiry

    @model_validator(mode="after")
    def _check_prices_stay_positive(self) -> BasisSettings:
        longest = self.level_per_year + self.slope_per_year * self.max_term_days / DAYS_PER_YEAR
        if longest <= -1:
            raise ValueError(
                "expected level_per_year + slope_per_year * max_term_days / 365 > -1 (the "
                f"annualised basis at the longest term), got {longest}"
            )
        deepest = self.crash_slope * (1 - self.crash_threshold)
        if deepest >= 1:
            raise ValueError(
                "expected crash_slope * (1 - crash_threshold) < 1 (the discount at a total "
                f"drawdown stays below the whole price), got {deepest}"
            )
        return self

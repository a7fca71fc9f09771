"""The price of a dated BTC future in the backtester, from the spot (or perpetual) price.

No public history of coin-margined quarterly futures exists, so the price is modelled on the
CME's (README of the shared data, `futures/`):

    F = S * (1 + basis)
    basis = annualised(tau) * tau - discount(drawdown) * fade(tau)

- In calm markets the future trades above spot by an annualised basis that falls with the
  time to expiry tau (in years): about 10 %/yr a month out, 7 %/yr six months out.
- After a sharp fall the future trades below spot: the discount grows with the price's
  drawdown from its highest of the last few days beyond a threshold (2020-03-13: -2.00 %
  with the price 32 % under its 72-hour high).
- The discount fades over the last days before expiry, so that F meets S at expiry.

The numbers and where they come from are in `config/basis.py` (`[backtest.basis]`);
`backtest/basis_calibration.py` fits them on the real data.
"""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal

from pegkeeper.config.basis import BasisSettings
from pegkeeper.domain.units import DAY_MS, HOUR_MS, ONE_CENT_USD, YEAR_MS


class BasisModel:
    """The basis as a float (a statistic of the model; `future_price` makes a price of it)."""

    def __init__(self, settings: BasisSettings | None = None) -> None:
        self.settings = s = settings if settings is not None else BasisSettings()
        self._level = float(s.level_per_year)
        self._slope = float(s.slope_per_year)
        self._max_term_years = s.max_term_days * DAY_MS / YEAR_MS
        self._threshold = float(s.crash_threshold)
        self._crash_slope = float(s.crash_slope)
        self._fade_ms = s.crash_fade_days * DAY_MS

    @property
    def drawdown_window_ms(self) -> int:
        """The drawdown is measured from the highest price this far back."""
        return int(self.settings.crash_window_hours * HOUR_MS)

    def annualised_basis(self, time_to_expiry_ms: int) -> float:
        """The calm-market basis per year at this time to expiry (the term structure)."""
        term_years = min(_not_negative(time_to_expiry_ms) / YEAR_MS, self._max_term_years)
        return self._level + self._slope * term_years

    def crash_discount(self, drawdown: float, time_to_expiry_ms: int) -> float:
        """The share of the price the future loses to a crash (>= 0), faded near expiry."""
        beyond = max(0.0, _drawdown(drawdown) - self._threshold)
        fade = min(1.0, _not_negative(time_to_expiry_ms) / self._fade_ms)
        return self._crash_slope * beyond * fade

    def basis(self, now_ms: int, expiry_ms: int, drawdown: float) -> float:
        """F / S - 1 at `now_ms` for the future expiring at `expiry_ms`; 0 at expiry."""
        if expiry_ms < now_ms:
            raise ValueError(
                f"the future expired at {expiry_ms} ms, before now ({now_ms} ms): it has no price"
            )
        left_ms = expiry_ms - now_ms
        calm = self.annualised_basis(left_ms) * left_ms / YEAR_MS
        return calm - self.crash_discount(drawdown, left_ms)

    def future_price(
        self, spot_usd: Decimal, now_ms: int, expiry_ms: int, drawdown: float
    ) -> Decimal:
        """The future's price in USD, to the cent (half-even)."""
        if not spot_usd.is_finite() or spot_usd <= 0:
            raise ValueError(f"expected a spot price > 0 USD, got {spot_usd}")
        price = spot_usd * (1 + Decimal(repr(self.basis(now_ms, expiry_ms, drawdown))))
        if price <= 0:
            raise ValueError(
                f"the basis model gives no positive price {expiry_ms - now_ms} ms before expiry "
                "(an expiry too far out for its term structure)"
            )
        return price.quantize(ONE_CENT_USD)


class TrailingDrawdown:
    """The price's drawdown from its highest within the last `window_ms`, fed in time order:
    1 - price / high, 0 when the price is at its high."""

    def __init__(self, window_ms: int) -> None:
        if window_ms <= 0:
            raise ValueError(f"expected a window > 0 ms, got {window_ms}")
        self._window_ms = window_ms
        self._highs: deque[tuple[int, float]] = deque()  # prices falling from the oldest

    def update(self, ms: int, price_usd: float) -> float:
        if not math.isfinite(price_usd) or price_usd <= 0:
            raise ValueError(f"expected a price > 0 USD, got {price_usd}")
        if self._highs and ms < self._highs[-1][0]:
            raise ValueError(f"prices must come in time order: {ms} ms after {self._highs[-1][0]}")
        while self._highs and self._highs[-1][1] <= price_usd:
            self._highs.pop()
        self._highs.append((ms, price_usd))
        while self._highs[0][0] < ms - self._window_ms:
            self._highs.popleft()
        return 1 - price_usd / self._highs[0][1]


def _drawdown(drawdown: float) -> float:
    if not math.isfinite(drawdown) or not 0 <= drawdown < 1:
        raise ValueError(f"expected a drawdown in [0, 1) (a fraction of the high), got {drawdown}")
    return drawdown


def _not_negative(ms: int) -> int:
    if ms < 0:
        raise ValueError(f"expected a time to expiry >= 0 ms, got {ms}")
    return ms

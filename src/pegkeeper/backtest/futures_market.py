"""The dated futures of a run: which quarterlies it lists, and their prices from the spot path.

A run whose allocation holds a rolling quarterly leg lists every OKX quarterly future live
during the path (and the next one, for the last roll). Each is priced at every tick from the
spot price by the basis model (backtest/basis.py): F = S * (1 + b), where b depends on the time
left to expiry and on how far the price has fallen from its recent high (the crash discount).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Protocol

import numpy as np

from pegkeeper.backtest.prices import BAR_MS, PricePath
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.instruments import Instrument, btc_usd_future, quarterly_expiries_ms

TICK_USD = Decimal("0.1")  # OKX's tick on BTC-USD futures


class BasisModel(Protocol):
    @property
    def drawdown_window_ms(self) -> int:
        """The recent high the drawdown is measured from is the highest price this far back."""
        ...

    def basis(self, now_ms: int, expiry_ms: int, drawdown: float) -> float:
        """F / S - 1 for the future expiring at `expiry_ms`, `drawdown` (0..1) below the high."""
        ...


class FuturesMarket:
    def __init__(
        self, instruments: list[Instrument], path: PricePath, model: BasisModel | None
    ) -> None:
        self.instruments = instruments
        self._model = model
        self._expiry = {i.instrument_id: i.expiry_ms or 0 for i in instruments}
        self._basis: dict[str, float] = {}
        self._horizon_ms = self._horizon_until_ms = 0
        self._path = path
        self._high = None
        if model is not None and instruments:
            self._high = _rolling_high(path, model.drawdown_window_ms)

    @classmethod
    def for_run(
        cls, allocation: Allocation, path: PricePath, model: BasisModel | None
    ) -> FuturesMarket:
        if not any(leg.rolls for leg in allocation.legs):
            return cls([], path, model)
        if model is None:
            raise ValueError("a rolling quarterly leg needs a basis model to price its futures")
        expiries = quarterly_expiries_ms(path.start_ms, 3)
        while expiries[-2] < path.end_ms:
            expiries = quarterly_expiries_ms(path.start_ms, len(expiries) + 1)
        return cls([btc_usd_future(ms) for ms in expiries], path, model)

    def prices(self, now_ms: int, spot_usd: float) -> Iterator[tuple[str, Decimal]]:
        """Each future still live at `now_ms`, at its price from the spot."""
        assert self._model is not None and self._high is not None
        bar = min(max((now_ms - self._path.start_ms) // BAR_MS, 0), len(self._high) - 1)
        drawdown = max(0.0, 1.0 - spot_usd / max(float(self._high[bar]), spot_usd))
        for instrument_id, expiry_ms in self._expiry.items():
            if expiry_ms <= now_ms:
                continue
            if instrument_id not in self._basis and expiry_ms > self._horizon(now_ms):
                continue  # neither held nor next: priced from when it can be traded
            basis = self._model.basis(now_ms, expiry_ms, drawdown)
            self._basis[instrument_id] = basis
            price = Decimal(repr(spot_usd * (1 + basis))).quantize(TICK_USD)
            yield instrument_id, price

    def _horizon(self, now_ms: int) -> int:
        """The last of the three live quarterlies (the ones a rolling leg reads): futures
        beyond it are not listed yet."""
        if now_ms >= self._horizon_until_ms:
            upcoming = quarterly_expiries_ms(now_ms, 3)
            self._horizon_ms, self._horizon_until_ms = upcoming[2], upcoming[0]
        return self._horizon_ms

    def basis_now(self, instrument_id: str) -> float:
        """The basis last priced (0 once expired: a future settles at spot)."""
        return self._basis.get(instrument_id, 0.0)

    def delivered(self, live_ids: tuple[str, ...]) -> list[str]:
        return [i for i in self._expiry if i not in live_ids]


def _rolling_high(path: PricePath, window_ms: int) -> np.ndarray:
    """The highest bar high of the `window_ms` up to each bar (that bar included)."""
    highs = np.asarray(path.bar_high_usd, dtype=np.float64)
    window = max(1, int(window_ms // BAR_MS))
    padded = np.concatenate([np.full(window - 1, -np.inf), highs])
    high: np.ndarray = np.lib.stride_tricks.sliding_window_view(padded, window).max(axis=1)
    return high

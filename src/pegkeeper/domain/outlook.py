"""What the recent past says about the next deposit delay: how fast the liability grows, how
much the mark moves, how long a deposit takes. The collateral manager feeds the estimator what
it sees (marks, the liability its collateral backs, deposits credited) and hands its reading
to the policy in CollateralInputs.outlook; the policy stays a function of its inputs.

- growth: the rise of the liability over the window, from its lowest point in the window to
  now, per hour of the window (never negative: a falling liability asks nothing);
- volatility: the realised volatility of the mark, from its returns between samples taken at
  most every `sample_seconds` over the window, per square root of an hour;
- deposit delay: the longest of the configured delay and of the last deposits seen credited
  (from the send to the credit).

The reading changes at most once per sample, and the growth and the volatility are rounded up
to two significant digits, so that a policy that depends on them is not asked again at every
tick for noise. It starts empty (a restart too): until the window fills, the policy's floors
(its least volatility, the configured delay) carry it. Pure: time comes in with each call.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

ZERO = Decimal(0)
MS_PER_HOUR = Decimal(3_600_000)
RECENT_DEPOSITS = 5  # the deposit delay is the longest of the last few
SIGNIFICANT_DIGITS = 2  # of the growth and the volatility, rounded up


@dataclass(frozen=True, slots=True)
class Outlook:
    liability_growth_cents_per_hour: Decimal = ZERO  # >= 0
    volatility_per_sqrt_hour: Decimal = ZERO  # of the mark's relative moves
    deposit_delay_seconds: Decimal = ZERO  # from a deposit's send to its credit

    def __post_init__(self) -> None:
        for name in (
            "liability_growth_cents_per_hour",
            "volatility_per_sqrt_hour",
            "deposit_delay_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def deposit_delay_hours(self) -> Decimal:
        return self.deposit_delay_seconds / 3_600


@dataclass(frozen=True, slots=True)
class OutlookParams:
    window_seconds: int = 3_600
    sample_seconds: int = 60
    deposit_delay_seconds: int = 3_600  # at least this long, whatever the deposits seen took

    def __post_init__(self) -> None:
        if self.sample_seconds <= 0:
            raise ValueError(f"sample_seconds must be positive, got {self.sample_seconds}")
        if self.window_seconds < 2 * self.sample_seconds:
            raise ValueError(
                f"window_seconds must hold at least two samples of {self.sample_seconds} s, "
                f"got {self.window_seconds}"
            )
        if self.deposit_delay_seconds < 0:
            raise ValueError(
                f"deposit_delay_seconds must be >= 0, got {self.deposit_delay_seconds}"
            )


class OutlookEstimator:
    def __init__(self, params: OutlookParams | None = None) -> None:
        self.params = params or OutlookParams()
        self._sample_ms = self.params.sample_seconds * 1000
        self._window_ms = self.params.window_seconds * 1000
        # (ms, mark, squared return from the sample before), one per sample
        self._prices: deque[tuple[int, Decimal, Decimal]] = deque()
        self._lows: deque[tuple[int, int]] = deque()  # (sample start ms, lowest liability)
        self._liability_cents: int | None = None
        self._deposit_ms: deque[int] = deque(maxlen=RECENT_DEPOSITS)
        self._reading: tuple[int, Outlook] | None = None  # (sample index, reading)

    def observe_price(self, ts_ms: int, mark_usd: Decimal) -> None:
        prices = self._prices
        if not prices:
            prices.append((ts_ms, mark_usd, ZERO))
        elif ts_ms >= prices[-1][0] + self._sample_ms:
            prices.append((ts_ms, mark_usd, (mark_usd / prices[-1][1] - 1) ** 2))

    def observe_liability(self, ts_ms: int, liability_cents: int) -> None:
        before = self._liability_cents
        if liability_cents == before:
            return
        self._liability_cents = liability_cents
        lows = self._lows
        start_ms = ts_ms - ts_ms % self._sample_ms
        if lows and lows[-1][0] == start_ms:
            lows[-1] = (start_ms, min(lows[-1][1], liability_cents))
        else:  # the sample starts at the level the liability had before this change
            lows.append(
                (start_ms, liability_cents if before is None else min(before, liability_cents))
            )

    def observe_deposit(self, sent_ms: int, credited_ms: int) -> None:
        self._deposit_ms.append(max(0, credited_ms - sent_ms))
        self._reading = None

    def outlook(self, now_ms: int) -> Outlook:
        """The reading at `now_ms`, from the samples of the window before it. Read again only
        at the next sample (or deposit seen): the same object until then."""
        index = now_ms // self._sample_ms
        last = self._reading
        if last is None or last[0] != index:
            self._forget_before(now_ms - self._window_ms)
            growth, volatility = _up_to_digits(self._growth()), _up_to_digits(self._volatility())
            reading = Outlook(growth, volatility, self._delay_seconds())
            if last is not None and last[1] == reading:
                reading = last[1]
            self._reading = (index, reading)
        return self._reading[1]  # type: ignore[index]

    def _forget_before(self, start_ms: int) -> None:
        prices, lows = self._prices, self._lows
        while len(prices) > 2 and prices[1][0] <= start_ms:
            prices.popleft()  # the oldest kept spans the window's start
        while lows and lows[0][0] + self._sample_ms <= start_ms:
            lows.popleft()

    def _growth(self) -> Decimal:
        if self._liability_cents is None or not self._lows:
            return ZERO
        rise = self._liability_cents - min(low for _, low in self._lows)
        return Decimal(max(rise, 0)) * MS_PER_HOUR / self._window_ms

    def _volatility(self) -> Decimal:
        prices = self._prices
        if len(prices) < 2:
            return ZERO
        squares = sum((square for _, _, square in itertools.islice(prices, 1, None)), ZERO)
        hours = Decimal(prices[-1][0] - prices[0][0]) / MS_PER_HOUR
        return (squares / hours).sqrt()

    def _delay_seconds(self) -> Decimal:
        seen_ms = max(self._deposit_ms, default=0)
        return Decimal(max(self.params.deposit_delay_seconds * 1000, seen_ms)) / 1000


def _up_to_digits(value: Decimal) -> Decimal:
    """Rounded up to SIGNIFICANT_DIGITS: a reading that moves by less is the same reading, so
    a policy that depends on it is not asked again for noise."""
    if value == 0:
        return ZERO
    quantum = Decimal(1).scaleb(value.adjusted() - SIGNIFICANT_DIGITS + 1)
    return value.quantize(quantum, rounding=ROUND_CEILING)

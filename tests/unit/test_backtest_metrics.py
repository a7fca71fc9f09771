"""The backtest's recorder: the state after each change, one row per tick, and the series
over every tick computed from them. Numbers worked out by hand in the comments."""

from __future__ import annotations

import numpy as np

from pegkeeper.backtest.metrics import Recorder
from pegkeeper.backtest.prices import parse_prices

START_MS = 1_583_971_200_000
HEADER = "open_time_ms,open,high,low,close,volume"


def test_the_later_state_of_a_tick_wins_and_every_tick_gets_its_state() -> None:
    # two bars: 10 000 flat, then up to 12 500; ticks 0-3 at 10 000, 4-5 at 10 000, 6-7 at 12 500
    rows = [
        f"{START_MS},10000,10000,10000,10000,1",
        f"{START_MS + 60_000},10000,12500,10000,12500,1",
    ]
    path = parse_prices([HEADER, *rows], "two bars")
    recorder = Recorder(path, inverse=True, face=100.0)
    recorder.begin(1_000.0, 10_000.0, -10.0, 10_000.0, 0.05, 0.0)  # K = 0.1 BTC
    recorder.flow(2, 500.0, 10_000.0)  # K = 0.15 BTC for 1 500 USD owed
    recorder.fill(2, -5.0, 10_000.0)  # the same tick: a short of 15 at the flow's state
    recorder.state(5, 10_000.0, -12.0, 10_000.0, 0.0495, 0.0)  # 3 contracts gone at the mark
    recorder.cost(START_MS, "fees", 1.5)
    recorder.cost(START_MS + 90_000, "fees", 0.5)
    series = recorder.series()
    assert series.liability_usd.tolist() == [1_000.0] * 2 + [1_500.0] * 6
    assert series.hedge_notional_usd.tolist() == [1_000.0] * 2 + [1_500.0] * 3 + [1_200.0] * 3
    # at 12 500 the short of 12 made -1 200 x (1/10 000 - 1/12 500) = -0.024 BTC:
    # (0.15 - 0.024) x 12 500 - 1 500 = 75 USD over the liability
    np.testing.assert_allclose(series.tracking_error_usd, [0.0] * 6 + [75.0] * 2, atol=1e-9)
    assert series.cumulative_cost_usd["fees"].tolist() == [1.5] * 6 + [2.0] * 2
    assert recorder.cost_total("fees") == 2.0

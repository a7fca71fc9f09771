from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegkeeper.domain.pegstats import (
    DAY_MS,
    HOUR_MS,
    REFERENCE_TICKS,
    PegStats,
    PegWindow,
    clamped_score,
    peg_stats,
)
from pegkeeper.domain.pricing import PricingModel, TopOfBook, aggregate_stablecoin
from tests.shared_data import shared_data

DEPEG_CSV = shared_data() / "stablecoins" / "binanceus-1m-2023-03.csv"


def naive(prices: Sequence[float]) -> tuple[float, float, float]:
    """rmse, population stdev and drawdown straight from the definitions."""
    n = len(prices)
    rmse = math.sqrt(math.fsum((p - 1.0) ** 2 for p in prices) / n)
    stdev = statistics.pstdev(prices)
    running_max = -math.inf
    drawdown = 0.0
    for p in prices:
        running_max = max(running_max, p)
        drawdown = max(drawdown, running_max - p)
    return rmse, stdev, drawdown


def naive_score(measure: float, scale: float) -> float:
    return min(10.0, max(0.0, 10.0 * (1.0 - measure / scale)))


def assert_matches_naive(stats: PegStats, window: Sequence[float]) -> None:
    rmse, stdev, drawdown = naive(window)
    assert stats.count == len(window)
    assert stats.price == window[-1]
    assert stats.rmse == pytest.approx(rmse, abs=1e-9)
    assert stats.stdev == pytest.approx(stdev, abs=1e-9)
    assert stats.drawdown == pytest.approx(drawdown, abs=1e-9)
    scores = [naive_score(rmse, 0.025), naive_score(stdev, 0.005), naive_score(drawdown, 0.01)]
    assert stats.rmse_score == pytest.approx(scores[0], abs=1e-9)
    assert stats.stdev_score == pytest.approx(scores[1], abs=1e-9)
    assert stats.drawdown_score == pytest.approx(scores[2], abs=1e-9)
    assert stats.score == pytest.approx(sum(scores) / 3, abs=1e-9)


def test_hand_computed_window_with_clamped_scores() -> None:
    # p - 1: 0, -0.01, 0.01, -0.02 -> squares sum 0.0006 -> mse 0.00015
    # mean 0.995 -> deviations 0.005, -0.005, 0.015, -0.015 -> squares sum 0.0005 -> var 0.000125
    # running max 1, 1, 1.01, 1.01 -> minus p: 0, 0.01, 0, 0.03
    stats = peg_stats([1.0, 0.99, 1.01, 0.98])
    assert stats.rmse == pytest.approx(0.012247448713915890, abs=1e-12)
    assert stats.stdev == pytest.approx(0.011180339887498949, abs=1e-12)
    assert stats.drawdown == pytest.approx(0.03, abs=1e-12)
    assert stats.rmse_score == pytest.approx(10 - 400 * 0.012247448713915890, abs=1e-9)
    assert stats.rmse_score == pytest.approx(5.101020514433644, abs=1e-9)
    assert stats.stdev_score == 0.0  # 10 * (1 - 2.236) clamps to 0
    assert stats.drawdown_score == 0.0  # 10 * (1 - 3) clamps to 0
    assert stats.score == pytest.approx(5.101020514433644 / 3, abs=1e-9)


def test_hand_computed_calm_window() -> None:
    # p - 1: 0.001, -0.001, 0, -0.002 -> mse 0.0000015; mean 0.9995 -> var 0.00000125
    # running max 1.001 throughout -> drawdown 1.001 - 0.998 = 0.003
    stats = peg_stats([1.001, 0.999, 1.000, 0.998])
    assert stats.rmse == pytest.approx(0.0012247448713915890, abs=1e-12)
    assert stats.stdev == pytest.approx(0.0011180339887498949, abs=1e-12)
    assert stats.drawdown == pytest.approx(0.003, abs=1e-12)
    assert stats.rmse_score == pytest.approx(9.510102051443364, abs=1e-9)
    assert stats.stdev_score == pytest.approx(7.763932022500210, abs=1e-9)
    assert stats.drawdown_score == pytest.approx(7.0, abs=1e-9)
    assert stats.score == pytest.approx(24.274034073943574 / 3, abs=1e-9)


def test_scores_are_clamped_to_ten_and_zero() -> None:
    assert clamped_score(0.0, 0.025) == 10.0
    assert clamped_score(1.0, 0.025) == 0.0
    perfect = peg_stats([1.0, 1.0, 1.0])
    assert (perfect.rmse, perfect.stdev, perfect.drawdown, perfect.score) == (0, 0, 0, 10.0)


def test_count_window_evicts_the_oldest() -> None:
    window = PegWindow(max_count=2)
    window.push(0.9)
    window.push(1.0)
    stats = window.push(1.0)
    assert len(window) == 2
    assert (stats.rmse, stats.stdev, stats.drawdown) == (0.0, 0.0, 0.0)  # 0.9 is gone


def test_time_window_keeps_prices_newer_than_the_span() -> None:
    window = PegWindow(span_ms=HOUR_MS)
    window.push(0.9, 0)
    window.push(1.0, HOUR_MS - 1)
    assert len(window) == 2
    stats = window.push(1.0, HOUR_MS)  # the price at time 0 is exactly one span old: out
    assert len(window) == 2
    assert stats.drawdown == 0.0


def test_window_rejects_bad_input() -> None:
    window = PegWindow(span_ms=DAY_MS)
    window.push(1.0, 1000)
    with pytest.raises(ValueError):
        window.push(1.0, 999)
    with pytest.raises(ValueError):
        window.push(math.nan, 2000)
    with pytest.raises(ValueError):
        PegWindow(max_count=0)
    with pytest.raises(ValueError):
        PegWindow(span_ms=0)
    with pytest.raises(ValueError):
        PegWindow().stats()
    with pytest.raises(ValueError):
        peg_stats([])


prices_strategy = st.floats(min_value=0.5, max_value=1.5, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    prices=st.lists(prices_strategy | st.sampled_from([1.0, 0.99, 1.01]), min_size=1, max_size=120),
    max_count=st.integers(min_value=1, max_value=40),
)
def test_count_window_matches_naive_recompute(prices: list[float], max_count: int) -> None:
    window = PegWindow(max_count=max_count)
    for i, p in enumerate(prices):
        stats = window.push(p)
        assert_matches_naive(stats, prices[max(0, i + 1 - max_count) : i + 1])


@settings(max_examples=300, deadline=None)
@given(
    ticks=st.lists(
        st.tuples(st.integers(min_value=0, max_value=3000), prices_strategy),
        min_size=1,
        max_size=120,
    ),
    span_ms=st.integers(min_value=1, max_value=10_000),
    max_count=st.none() | st.integers(min_value=1, max_value=40),
)
def test_time_window_matches_naive_recompute(
    ticks: list[tuple[int, float]], span_ms: int, max_count: int | None
) -> None:
    window = PegWindow(span_ms=span_ms, max_count=max_count)
    history: list[tuple[int, float]] = []
    now = 0
    for step, p in ticks:
        now += step
        history.append((now, p))
        stats = window.push(p, now)
        inside = [q for t, q in history if t > now - span_ms]
        if max_count is not None:
            inside = inside[-max_count:]
        assert_matches_naive(stats, inside)


def read_depeg_rows() -> list[tuple[int, str, str]]:
    with DEPEG_CSV.open(newline="") as f:
        return [
            (int(r["open_time_ms"]), r["btcusd_close"], r["btcusdc_close"])
            for r in csv.DictReader(f)
        ]


def utc_day(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d")


def test_march_2023_usdc_depeg_replay() -> None:
    rows = read_depeg_rows()
    assert len(rows) == 30_240

    # independently: USDC in USD = BTC/USD close / BTC/USDC close, plain float arithmetic
    csv_min_price, csv_min_time = min((float(u) / float(c), t) for t, u, c in rows)
    assert utc_day(csv_min_time) == "2023-03-11"
    assert datetime.fromtimestamp(csv_min_time / 1000, UTC).strftime("%H:%M") == "07:50"
    assert 0.874 < csv_min_price < 0.876

    # the pipeline: aggregated price (robust model, bridged leg alone) -> 1000-tick window
    window = PegWindow(max_count=REFERENCE_TICKS)
    pipeline_min = (math.inf, 0)
    scores_by_day: dict[str, list[float]] = {}
    for t, btcusd, btcusdc in rows:
        quotes = [
            TopOfBook("binanceus", "BTC", "USD", Decimal(btcusd), None, t),
            TopOfBook("binanceus", "BTC", "USDC", Decimal(btcusdc), None, t),
        ]
        aggregated = aggregate_stablecoin("USDC", quotes, PricingModel.ROBUST)
        assert aggregated.price is not None and aggregated.legs_used == ("bridged",)
        price = float(aggregated.price)
        pipeline_min = min(pipeline_min, (price, t))
        scores_by_day.setdefault(utc_day(t), []).append(window.push(price, t).score)

    assert pipeline_min[1] == csv_min_time
    assert pipeline_min[0] == pytest.approx(csv_min_price, abs=1e-12)

    # Thresholds read off the replay: before the depeg the score never drops below 7.2; during
    # 03-11 it reaches 0 (a 12 % discount saturates every measure); by 03-14 it is back above
    # 2.5 for the whole day and above 5 at its best, and it passes 7.5 on 03-15.
    calm = [s for day, scores in scores_by_day.items() if day < "2023-03-11" for s in scores]
    assert min(calm) > 7.2
    assert max(scores_by_day["2023-03-10"]) > 7.5
    assert min(scores_by_day["2023-03-11"]) < 0.5
    assert max(scores_by_day["2023-03-12"]) < 0.5
    assert min(scores_by_day["2023-03-14"]) > 2.5
    assert max(scores_by_day["2023-03-14"]) > 5.0
    assert max(scores_by_day["2023-03-15"]) > 7.5


def test_march_2023_reference_model_needs_both_legs() -> None:
    t, btcusd, btcusdc = read_depeg_rows()[0]
    quotes = [
        TopOfBook("binanceus", "BTC", "USD", Decimal(btcusd), None, t),
        TopOfBook("binanceus", "BTC", "USDC", Decimal(btcusdc), None, t),
    ]
    aggregated = aggregate_stablecoin("USDC", quotes, PricingModel.STABLECOIN_STATS)
    assert aggregated.price is None
    assert aggregated.bridged == Decimal(btcusd) / Decimal(btcusdc)
    assert "USDC/USD" in aggregated.reason

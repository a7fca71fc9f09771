"""The choice among a backtest's runs: qualified by liquidation, then tracking error unless
too dear."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pegkeeper.backtest.choice import Named, choose, qualifies
from pegkeeper.backtest.metrics import PolicyMetrics

BASE = PolicyMetrics(
    policy="stablesats", tracking_error_max_usd=0.0, tracking_error_rms_usd=0.0,
    tracking_error_final_usd=0.0, tracking_error_max_pct=0.0, tracking_error_rms_pct=0.5,
    time_outside_brackets_pct=0.0, orders=0, orders_rejected=0, post_only_orders=0,
    transfers=0, fees_usd=0.0, funding_usd=0.0, slippage_usd=0.0, transfer_fees_usd=0.0,
    basis_usd=0.0,
    latency_usd=0.0, total_cost_usd=10_000.0, average_liability_usd=1e6,
    cost_bps_per_year=0.0, min_liquidation_distance_pct=30.0, max_leverage=3.0,
    liquidated=False, liquidations=0, opening_cost_usd=0.0, events=0, events_per_second=0.0,
)  # fmt: skip


def run(
    name: str, te: float, cost: float, distance: float | None = 30.0, liquidated: bool = False
) -> Named:
    return name, replace(
        BASE,
        tracking_error_rms_pct=te,
        total_cost_usd=cost,
        min_liquidation_distance_pct=distance,
        liquidated=liquidated,
    )


def test_the_closest_tracker_wins_within_the_cost_tolerance() -> None:
    # 10 900 is 9 % above 10 000: within 10 % of the cheaper
    choice = choose([run("stablesats", 0.46, 10_000), run("pegkeeper", 0.15, 10_900)], 20, 10)
    assert choice.chosen == "pegkeeper"
    assert choice.qualifying == ("stablesats", "pegkeeper")
    assert choice.reason.startswith("pegkeeper: the lowest RMS tracking error (0.150 %")
    assert "within 10 % of the cheapest (stablesats 10,000 USD)" in choice.reason


def test_the_cheaper_wins_when_the_closest_tracker_costs_more_than_the_tolerance() -> None:
    # 11 100 is 11 % above 10 000
    choice = choose([run("stablesats", 0.46, 10_000), run("pegkeeper", 0.15, 11_100)], 20, 10)
    assert choice.chosen == "stablesats"
    assert choice.reason == (
        "stablesats: pegkeeper tracks closer (0.150 % against 0.460 %) but costs 11,100 USD, "
        "more than 10 % above the cheapest (stablesats 10,000 USD)"
    )


def test_the_tolerance_is_a_share_of_the_cheapest_cost_even_when_it_is_negative() -> None:
    # funding received: the cheapest costs -1 000 USD; 10 % of it is 100 USD: up to -900
    within = choose([run("a", 0.5, -1_000), run("b", 0.1, -950)], 20, 10)
    beyond = choose([run("a", 0.5, -1_000), run("b", 0.1, -850)], 20, 10)
    assert (within.chosen, beyond.chosen) == ("b", "a")


def test_of_three_the_closest_tracker_among_the_affordable_ones() -> None:
    runs = [run("a", 0.10, 13_000), run("b", 0.20, 10_500), run("c", 0.30, 10_000)]
    assert choose(runs, 20, 10).chosen == "b"


def test_a_run_liquidated_or_closer_than_the_floor_does_not_qualify() -> None:
    runs = [
        run("liquidated", 0.01, 1.0, distance=50.0, liquidated=True),
        run("close", 0.02, 1.0, distance=19.9),
        run("far", 0.90, 50_000, distance=20.0),  # at the floor qualifies
    ]
    choice = choose(runs, 20, 10)
    assert choice.chosen == "far" and choice.qualifying == ("far",)
    assert "the only one never liquidated and at least 20 % from liquidation" in choice.reason


def test_none_qualifies_names_the_farthest_from_liquidation() -> None:
    runs = [
        run("stablesats", 0.46, 16_636, distance=3.4),
        run("pegkeeper", 0.15, 16_062, distance=3.9),
        run("gone", 0.0, 0.0, distance=80.0, liquidated=True),
    ]
    choice = choose(runs, 20, 10)
    assert choice.chosen is None and choice.qualifying == ()
    assert choice.farthest == "pegkeeper"  # a liquidated run is never the farthest
    assert choice.reason == (
        "none: no run stayed at least 20 % from liquidation without being liquidated "
        "(stablesats 3.4 %, pegkeeper 3.9 %, gone liquidated); the farthest from "
        "liquidation: pegkeeper"
    )


def test_a_run_without_a_liquidation_price_qualifies() -> None:
    assert qualifies(run("flat", 0.0, 0.0, distance=None)[1], 20)


def test_nothing_to_choose_from_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one run"):
        choose([], 20, 10)

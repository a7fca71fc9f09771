"""Which of the runs of a backtest the operator should choose, and why.

A run qualifies when it was never liquidated and its minimum liquidation distance stayed at
or above the floor (`[backtest] liquidation_floor_pct`); a run that never held a position
has no liquidation price and qualifies. Among those that qualify, the lowest RMS tracking
error wins unless its total cost exceeds the cheapest qualifying run's by more than
`[backtest] choice_cost_tolerance_pct` of that cost: then the lowest tracking error among
those within the tolerance (with two runs, the cheaper). When none qualifies the choice is
none, and the run that stayed farthest from liquidation is named.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pegkeeper.backtest.metrics import PolicyMetrics

Named = tuple[str, PolicyMetrics]  # the run's name (setup or policy) and its numbers


@dataclass(frozen=True, slots=True)
class Choice:
    chosen: str | None  # None: no run qualifies
    qualifying: tuple[str, ...]
    farthest: str  # the largest minimum liquidation distance (a run never liquidated first)
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "chosen": self.chosen,
            "qualifying": list(self.qualifying),
            "farthest_from_liquidation": self.farthest,
            "reason": self.reason,
        }


def choose(runs: Sequence[Named], floor_pct: float, cost_tolerance_pct: float) -> Choice:
    if not runs:
        raise ValueError("expected at least one run to choose from")
    qualifying = [(name, m) for name, m in runs if qualifies(m, floor_pct)]
    farthest = max(runs, key=lambda run: (not run[1].liquidated, _distance(run[1])))[0]
    names = tuple(name for name, _ in qualifying)
    if not qualifying:
        return Choice(None, names, farthest, _none_qualifies(runs, floor_pct, farthest))
    cheapest_name, cheapest = min(qualifying, key=lambda run: run[1].total_cost_usd)
    ceiling = cheapest.total_cost_usd + abs(cheapest.total_cost_usd) * cost_tolerance_pct / 100
    affordable = [run for run in qualifying if run[1].total_cost_usd <= ceiling]
    best_name, best = min(qualifying, key=lambda run: run[1].tracking_error_rms_pct)
    chosen_name, chosen = min(affordable, key=lambda run: run[1].tracking_error_rms_pct)
    others = [run for run in qualifying if run[0] != chosen_name]
    if len(qualifying) == 1:
        reason = f"the only one never liquidated and at least {floor_pct:g} % from liquidation"
    elif chosen_name == best_name:
        reason = (
            f"the lowest RMS tracking error ({_te(chosen)} against "
            f"{', '.join(f'{n} {_te(m)}' for n, m in others)}) at a total cost of "
            f"{_usd(chosen)}, within {cost_tolerance_pct:g} % of the cheapest "
            f"({cheapest_name} {_usd(cheapest)})"
        )
    else:
        reason = (
            f"{best_name} tracks closer ({_te(best)} against {_te(chosen)}) but costs "
            f"{_usd(best)}, more than {cost_tolerance_pct:g} % above the cheapest "
            f"({cheapest_name} {_usd(cheapest)})"
        )
    return Choice(chosen_name, names, farthest, f"{chosen_name}: {reason}")


def qualifies(metrics: PolicyMetrics, floor_pct: float) -> bool:
    return not metrics.liquidated and _distance(metrics) >= floor_pct


def _distance(metrics: PolicyMetrics) -> float:
    distance = metrics.min_liquidation_distance_pct
    return math.inf if distance is None else distance


def _none_qualifies(runs: Sequence[Named], floor_pct: float, farthest: str) -> str:
    why = ", ".join(
        f"{name} {'liquidated' if m.liquidated else f'{_distance(m):.1f} %'}" for name, m in runs
    )
    return (
        f"none: no run stayed at least {floor_pct:g} % from liquidation without being "
        f"liquidated ({why}); the farthest from liquidation: {farthest}"
    )


def _te(metrics: PolicyMetrics) -> str:
    return f"{metrics.tracking_error_rms_pct:.3f} %"


def _usd(metrics: PolicyMetrics) -> str:
    return f"{metrics.total_cost_usd:,.0f} USD"

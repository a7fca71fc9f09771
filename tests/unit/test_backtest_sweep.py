"""Sweep files: the grid they make, the summary over seeds, and the files refused before
anything runs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pegkeeper.backtest.sweep import (
    CellOutcome,
    SweepFileError,
    load_sweep,
    run_label,
    summarize,
)
from pegkeeper.config import load_settings
from tests.shared_data import shared_data

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sweep-crashes.toml"
PATH = '[[paths]]\nprices = "p.csv"\nfunding = "f.csv"\n'


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory whose files exist (the grid is checked, not run, here)."""
    for name in ("p.csv", "q.csv", "f.csv"):
        (tmp_path / name).write_text("")
    return tmp_path


def sweep_file(directory: Path, text: str) -> Path:
    path = directory / "sweep.toml"
    path.write_text(text)
    return path


def test_the_example_sweeps_four_crash_paths_with_twenty_seeds_and_two_setups() -> None:
    data = shared_data()
    sweep = load_sweep(EXAMPLE, load_settings(), data)
    assert len(sweep.cells) == 4 * 20 * 2 == 160
    assert sweep.shape() == "160 cells (4 paths x 20 seeds x 1 parameter set x 2 setups)"
    assert [p.label for p in sweep.paths] == [
        "March 2020, Binance funding",
        "March 2020, BitMEX funding",
        "May 2021",
        "November 2022",
    ]
    bitmex = sweep.paths[1]
    assert bitmex.prices == data / "btc" / "binance-btcusdt-1m-2020-03-11_14.csv"
    assert bitmex.funding == data / "funding" / "bitmex-xbtusd-funding-2016_2020.csv"
    assert sweep.seeds == tuple(range(1, 21))
    # a path and seed's setups one after the other, then the next seed, then the next path
    first, second, third = sweep.cells[:3]
    assert (first.setup, first.seed, first.flows) == ("stablesats", 1, "poisson:stress=0.5,seed=1")
    assert (second.setup, second.seed) == ("pegkeeper", 1)
    assert (third.setup, third.seed, third.flows) == ("stablesats", 2, "poisson:stress=0.5,seed=2")
    assert (first.settings.hedger.policy, second.settings.hedger.policy) == (
        "stablesats",
        "maker-band",
    )
    assert [c.index for c in sweep.cells] == list(range(160))
    assert sweep.cells[-1].coordinates() == {
        "path": "November 2022",
        "setup": "pegkeeper",
        "parameters": {},
        "seed": 20,
    }


def test_parameters_make_a_grid_applied_to_each_setup(data: Path) -> None:
    file = sweep_file(
        data,
        'policies = ["maker-band"]\n'
        '[parameters]\n"hedger.maker_band.band_ratio" = ["0.01", "0.03"]\n'
        '"backtest.latency_ms" = [100, 250, 500]\n'
        '[flows]\nspec = "poisson"\nseeds = "3..4"\n' + PATH,
    )
    sweep = load_sweep(file, load_settings(), data)
    assert len(sweep.cells) == 2 * 3 * 2  # values x values x seeds
    assert sweep.seeds == (3, 4) and sweep.cells[0].flows == "poisson:seed=3"
    assert sweep.paths[0].label == "p.csv + f.csv"  # no label: the file names
    cell = sweep.cells[4]  # seed 3, the second band ratio's second latency
    assert cell.parameters == (
        ("hedger.maker_band.band_ratio", "0.03"),
        ("backtest.latency_ms", 250),
    )
    assert cell.settings.hedger.maker_band.band_ratio == Decimal("0.03")
    assert cell.settings.backtest.latency_ms == 250
    assert cell.settings.hedger.policy == "maker-band"
    assert run_label(cell.setup, cell.parameters) == (
        "maker-band (hedger.maker_band.band_ratio=0.03, backtest.latency_ms=250)"
    )


def test_without_seeds_the_flows_of_the_settings_run_once(data: Path) -> None:
    sweep = load_sweep(sweep_file(data, PATH), load_settings(), data)
    assert sweep.seeds == (None,) and sweep.setups == ("stablesats", "pegkeeper")
    assert [c.flows for c in sweep.cells] == ["poisson", "poisson"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("setups = [\n", "is not valid TOML"),
        ('setup = ["pegkeeper"]\n' + PATH, "setup: unknown key (expected setups or policies"),
        ("", "paths: Field required"),
        ("paths = []\n", "paths: List should have at least 1 item"),
        ('[[paths]]\nfunding = "f.csv"\n', "paths[0].prices: Field required"),
        (
            PATH + 'volume_unit = "eur"\n',
            "paths[0].volume_unit: Input should be 'base' or 'quote' (got 'eur')",
        ),
        ('[[paths]]\nprices = "none.csv"\n', "paths[0]: none.csv does not exist (nor under"),
        (PATH + PATH, "paths: the label 'p.csv + f.csv' names more than one path"),
        ('setups = ["yolo"]\n' + PATH, "setups: unknown setup 'yolo'; expected one of"),
        (
            'setups = ["pegkeeper"]\npolicies = ["maker-band"]\n' + PATH,
            "setups and policies: give one or the other",
        ),
        (
            'policies = ["yolo"]\n' + PATH,
            "hedger.policy: Input should be 'stablesats' or 'maker-band' (got 'yolo')",
        ),
        (
            '[parameters]\n"hedger.polcy" = [1]\n' + PATH,
            "parameters (setup stablesats; hedger.polcy = 1): hedger.polcy: unknown key",
        ),
        (
            '[parameters]\n"hedger.maker_band.band_ratio" = 0.01\n' + PATH,
            "parameters: hedger.maker_band.band_ratio: expected a non-empty list of values, "
            "got 0.01",
        ),
        (
            '[parameters]\n"hedger.policy" = ["maker-band"]\n' + PATH,
            "parameters.hedger.policy: set by the setup stablesats",
        ),
        ('[flows]\nseeds = "20..1"\n' + PATH, "flows.seeds: expected FIRST <= LAST in '20..1'"),
        ('[flows]\nseeds = "a"\n' + PATH, "expected a list of seeds or a range 'FIRST..LAST'"),
        ("[flows]\nseeds = [1, 1]\n" + PATH, "flows.seeds: expected each seed once"),
        (
            '[flows]\nspec = "poisson:seed=3"\nseeds = [1]\n' + PATH,
            "flows.spec: 'poisson:seed=3' sets seed; leave it to flows.seeds",
        ),
        ('[flows]\nspec = "poisson:speed=3"\n' + PATH, "flows.spec: --flows poisson: 'speed=3'"),
        (
            '[flows]\nspec = "none"\nseeds = [1]\n' + PATH,
            "flows.seeds: only a poisson spec has a seed, got 'none'",
        ),
    ],
)
def test_a_bad_sweep_file_is_refused_naming_the_key(data: Path, text: str, message: str) -> None:
    with pytest.raises(SweepFileError) as raised:
        load_sweep(sweep_file(data, text), load_settings(), data)
    assert message in str(raised.value)


def test_the_summary_over_seeds(data: Path) -> None:
    file = sweep_file(data, 'setups = ["pegkeeper"]\n[flows]\nseeds = "1..5"\n' + PATH)
    sweep = load_sweep(file, load_settings(), data)
    te, cost, distance = [1.0, 4.0, 2.0, 3.0], [10.0, 40.0, 20.0, 30.0], [25.0, None, 21.5, 30.0]
    outcomes = [
        CellOutcome(
            i,
            {
                "tracking_error_rms_pct": te[i],
                "total_cost_usd": cost[i],
                "min_liquidation_distance_pct": distance[i],
                "liquidated": i == 3,
            },
        )
        for i in range(4)
    ]
    outcomes.append(CellOutcome(4, None, "a gap"))
    [row] = summarize(sweep, outcomes)
    assert (row.path, row.setup, row.runs, row.failed) == ("p.csv + f.csv", "pegkeeper", 4, 1)
    # sorted 1, 2, 3, 4: the median between 2 and 3; the 90th percentile 0.7 of the way
    # from 3 to 4 (at rank 0.9 * 3 = 2.7)
    assert row.tracking_error_rms_pct_median == 2.5
    assert row.tracking_error_rms_pct_p90 == pytest.approx(3.7)
    assert row.total_cost_usd_median == 25.0
    assert row.min_liquidation_distance_pct == 21.5  # a run without a liquidation price aside
    assert row.liquidated == 1
    assert row.texts() == ["4 (1 failed)", "2.500", "3.700", "25", "21.5", "1"]

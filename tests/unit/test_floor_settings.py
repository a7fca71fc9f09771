"""`[funding] policy = "liquidation-floor"`: its settings, the policy object built from them
for each collateral, the services that run it, and the collateral a backtest starts with."""

from decimal import Decimal
from pathlib import Path

import pytest

from pegkeeper import bootstrap
from pegkeeper.bootstrap.backtest import opening_collateral
from pegkeeper.bootstrap.collateral import funding_policy
from pegkeeper.config import ConfigError, load_settings
from pegkeeper.domain.collateral_policy import CollateralInputs, StablesatsCollateralPolicy
from pegkeeper.domain.floor_policy import LiquidationFloorPolicy
from pegkeeper.domain.outlook import Outlook, OutlookParams

D = Decimal
FLOOR = {"policy": "liquidation-floor"}


def test_the_settings_reach_the_policy(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        funding={
            **FLOOR,
            "maintenance_margin_rate": "0.005",
            "liquidation_floor": {
                "floor_pct": "25",
                "window_minutes": 30,
                "deposit_delay_minutes": 45,
            },
        },
    )
    policy = funding_policy(settings, "BTC", D(5))
    assert isinstance(policy, LiquidationFloorPolicy)
    p = policy.params
    assert (p.floor_pct, p.target_pct, p.release_pct) == (25, 30, 50)
    assert (p.maintenance_margin_rate, p.exchange_leverage, p.inverse) == (D("0.005"), 5, True)
    assert p.minimum_liability_threshold_cents == 5_000  # the hedge policy's
    assert policy.outlook == OutlookParams(1_800, 60, 2_700)
    usdt = funding_policy(settings, "USDT", D(5))
    assert isinstance(usdt, LiquidationFloorPolicy) and not usdt.params.inverse


def test_bad_floor_settings_are_refused_with_the_rule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="0 < floor_pct < target_pct < release_pct"):
        load_settings(
            data_dir=tmp_path, funding={**FLOOR, "liquidation_floor": {"floor_pct": "40"}}
        )
    with pytest.raises(ConfigError, match="reserve_target_ratio < reserve_release_ratio"):
        load_settings(
            data_dir=tmp_path,
            funding={"liquidation_floor": {"reserve_target_ratio": "5"}},
        )
    with pytest.raises(ConfigError, match="liquidation_floor"):
        load_settings(data_dir=tmp_path, funding={"liquidation_floor": {"floor": "20"}})


def test_the_leverage_bounds_shown_are_the_floors_and_the_releases(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, funding=FLOOR)
    # equity over notional at d: (d + 0.004) / (1 + d); leverage its inverse
    assert settings.funding.high_bound_leverage == 1 / (D("0.204") / D("1.2"))
    assert settings.funding.low_bound_leverage == 1 / (D("0.504") / D("1.5"))


async def test_the_funding_manager_runs_it_on_a_venue_at_leverage_2(tmp_path: Path) -> None:
    # stablesats would refuse a leverage under its high bound of 4; the floor policy lifts its
    # levels to the exchange's initial margin instead
    settings = load_settings(
        data_dir=tmp_path, venue={"kind": "sim"}, sim={"leverage": 2}, funding=FLOOR
    )
    runtime = await bootstrap.build_runtime(settings, ["hedger", "funding", "liability"])
    try:
        assert runtime.funding is not None
        (service,) = runtime.funding.services
        assert isinstance(service.policy, LiquidationFloorPolicy)
        assert service.policy.params.exchange_leverage == 2
        assert service.policy.high_bound_leverage == 2
    finally:
        await bootstrap.close_runtime(runtime)


def test_a_backtest_starts_with_what_the_floor_policy_wants(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, funding=FLOOR)
    opening = opening_collateral(settings)
    policy = funding_policy(settings, "BTC", D(settings.backtest.exchange_leverage))
    assert isinstance(policy, LiquidationFloorPolicy)
    # 1 000 000 USD at 20 000 USD: 50 BTC; nothing seen yet (the configured delay of 60 min)
    calm = Outlook(D(0), D(0), D(3_600))
    trading, funding = policy.wanted(
        CollateralInputs(100_000_000, -100_000_000, D(2_000_000), D(0), D(0), outlook=calm)
    )
    assert abs(D(50) / opening.target_leverage - trading) < D("0.00000002")
    assert abs(trading * opening.funding_reserve_share - funding) < D("0.00000002")
    # the numbers set are used when asked, and for the other policies
    fixed = load_settings(
        data_dir=tmp_path, funding=FLOOR, backtest={"collateral": {"from_policy": False}}
    )
    assert (
        opening_collateral(fixed).target_leverage,
        opening_collateral(fixed).funding_reserve_share,
    ) == (3, D("0.5"))
    stablesats = load_settings(data_dir=tmp_path)
    assert isinstance(funding_policy(stablesats, "BTC", D(4)), StablesatsCollateralPolicy)
    assert opening_collateral(stablesats).target_leverage == 3

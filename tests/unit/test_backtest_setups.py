"""Setups: named settings overrides, applied by dotted key and validated."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.backtest.setups import (
    DEFAULT_SETUPS,
    PRODUCT_DEFAULT,
    SetupError,
    apply_overrides,
    named_setup,
    policy_setup,
)
from pegkeeper.config import load_settings
from pegkeeper.config.collateral import LegSettings


def test_the_two_setups_compared_by_default() -> None:
    assert DEFAULT_SETUPS == ("stablesats", "pegkeeper")
    stablesats = apply_overrides(load_settings(), named_setup("stablesats").overrides)
    pegkeeper = apply_overrides(load_settings(), named_setup("pegkeeper").overrides)
    assert (stablesats.hedger.policy, stablesats.funding.policy) == ("stablesats", "stablesats")
    assert (pegkeeper.hedger.policy, pegkeeper.funding.policy) == (
        "maker-band",
        "liquidation-floor",
    )
    # the perpetual and the rolling quarterly, the hedge split between them by carry
    legs = [leg.instrument_id for leg in pegkeeper.allocation.legs]
    assert legs == ["BTC-USD-SWAP", "BTC-USD-QUARTERLY"] and pegkeeper.allocation.carry.enabled
    assert named_setup("pegkeeper").overrides == PRODUCT_DEFAULT


def test_a_setup_puts_the_whole_hedge_on_the_perpetual() -> None:
    settings = load_settings(allocation={"legs": [{"instrument_id": "BTC-USD-QUARTERLY"}]})
    assert settings.allocation.legs == [LegSettings(instrument_id="BTC-USD-QUARTERLY")]
    assert apply_overrides(settings, named_setup("stablesats").overrides).allocation.legs == []


def test_a_policy_alone_keeps_the_funding_policy_of_the_settings() -> None:
    settings = load_settings(funding={"policy": "galoy-dealer"})
    applied = apply_overrides(settings, policy_setup("maker-band").overrides)
    assert (applied.hedger.policy, applied.funding.policy) == ("maker-band", "galoy-dealer")


def test_dotted_keys_reach_nested_sections_and_are_validated() -> None:
    applied = apply_overrides(
        load_settings(),
        {"hedger.maker_band.band_ratio": 0.01, "backtest.latency_ms": 100},
    )
    assert applied.hedger.maker_band.band_ratio == Decimal("0.01")
    assert applied.backtest.latency_ms == 100
    assert load_settings().backtest.latency_ms == 250  # the settings given are not changed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hedger.polcy": "x"}, "hedger.polcy: unknown key"),
        ({"hedgr.policy": "x"}, "hedgr.policy: hedgr is an unknown section"),
        ({"hedger.policy.name": "x"}, "hedger.policy.name: hedger.policy is not a section"),
        (
            {"hedger.policy": "yolo"},
            "hedger.policy: Input should be 'stablesats' or 'maker-band' (got 'yolo')",
        ),
        (
            {"hedger.maker_band.band_ratio": 0.05},
            "hedger.maker_band: expected band_ratio <= urgent_ratio, got 0.05 > 0.04",
        ),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SetupError) as raised:
        apply_overrides(load_settings(), overrides)
    assert message in str(raised.value)


def test_an_unknown_setup_names_the_known_ones() -> None:
    with pytest.raises(
        SetupError, match="unknown setup 'yolo'; expected one of stablesats, pegkeeper"
    ):
        named_setup("yolo")

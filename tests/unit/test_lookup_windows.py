"""Lookup windows that outlast a lease: a request the venue does not know is declared lost only
once nothing sent by a paused former lease holder can still be executed."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegkeeper.bootstrap.collateral import transfer_lookup_window_seconds
from pegkeeper.bootstrap.equities import broker_lookup_window_seconds
from pegkeeper.bootstrap.venue import order_lookup_window_seconds
from pegkeeper.config import ConfigError, Settings, load_settings
from pegkeeper.config.equities import EquitiesSettings
from pegkeeper.domain.execution import (
    LOOKUP_MARGIN_SECONDS,
    lookup_window_passed,
    lookup_window_seconds,
)

seconds = st.floats(min_value=0.001, max_value=10_000, allow_nan=False)


def test_a_window_long_enough_is_kept_and_a_short_one_lengthened() -> None:
    assert lookup_window_seconds(30.0, 25.0) == 30.0
    assert lookup_window_seconds(10.0, 15.0) == 16.0
    assert lookup_window_seconds(15.0, 15.0) == 16.0  # equal is not longer
    assert LOOKUP_MARGIN_SECONDS == 1.0


@given(configured=seconds, must_exceed=seconds)
def test_the_window_is_never_shorter_than_configured_and_always_outlasts(
    configured: float, must_exceed: float
) -> None:
    window = lookup_window_seconds(configured, must_exceed)
    assert window >= configured
    assert window > must_exceed
    sent_ms = 1_000_000
    latest_arrival_ms = sent_ms + int(must_exceed * 1000)
    assert not lookup_window_passed(sent_ms, latest_arrival_ms, window)


def test_hedge_orders_wait_out_their_expiry_plus_the_request_timeout() -> None:
    defaults = Settings()  # expiry 5 s, request timeout 10 s, window 10 s
    assert order_lookup_window_seconds(defaults) == 5 + 10 + 1
    longer = Settings.model_validate({"hedger": {"order_lookup_window_seconds": 40}})
    assert order_lookup_window_seconds(longer) == 40
    tight = Settings.model_validate(
        {"venue": {"order_expiry_seconds": 2, "request_timeout_seconds": 3}}
    )
    assert order_lookup_window_seconds(tight) == 10  # 2 + 3 + 1 is shorter than configured


def test_orders_through_ccxt_carry_no_expiry_and_wait_out_the_lease() -> None:
    settings = Settings.model_validate(
        {"venue": {"kind": "ccxt"}, "cluster": {"lease_ttl_seconds": 20}}
    )
    assert order_lookup_window_seconds(settings) == 20 + 10 + 1


def test_transfers_carry_no_expiry_and_wait_out_the_lease_plus_the_timeout() -> None:
    assert transfer_lookup_window_seconds(Settings()) == 30  # 15 + 10 + 1 is shorter
    settings = Settings.model_validate(
        {"cluster": {"lease_ttl_seconds": 60}, "funding": {"lookup_window_seconds": 5}}
    )
    assert transfer_lookup_window_seconds(settings) == 60 + 10 + 1


def test_broker_orders_wait_out_the_lease_plus_the_broker_timeout() -> None:
    dry_run = EquitiesSettings(order_lookup_window_seconds=5)
    assert broker_lookup_window_seconds(dry_run, 15) == 15 + 0 + 1
    alpaca = EquitiesSettings.model_validate(
        {
            "broker": "alpaca-trading",
            "order_lookup_window_seconds": 5,
            "alpaca": {"request_timeout_seconds": 7},
        }
    )
    assert broker_lookup_window_seconds(alpaca, 15) == 15 + 7 + 1
    schwab = EquitiesSettings.model_validate(
        {"broker": "schwab", "schwab": {"request_timeout_seconds": 12}}
    )
    assert broker_lookup_window_seconds(schwab, 15) == 30  # 15 + 12 + 1 is shorter


@pytest.mark.parametrize(("expiry", "lease"), [(15, 15), (20, 15), (30.5, 30)])
def test_an_order_expiry_not_shorter_than_the_lease_is_refused_naming_both(
    tmp_path: Path, expiry: float, lease: float
) -> None:
    path = tmp_path / "pegkeeper.toml"
    path.write_text(
        f"[venue]\norder_expiry_seconds = {expiry}\n[cluster]\nlease_ttl_seconds = {lease}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert "[venue] order_expiry_seconds" in message
    assert "[cluster] lease_ttl_seconds" in message
    assert f"({expiry:g})" in message and f"({lease:g})" in message


def test_an_order_expiry_shorter_than_the_lease_is_accepted() -> None:
    settings = load_settings(venue={"order_expiry_seconds": 14.9})
    assert settings.venue.order_expiry_seconds == 14.9
    assert settings.cluster.lease_ttl_seconds == 15

"""Wiring of the carry allocation: the "carry" service runs with `[allocation.carry] enabled`
and two legs or more, every hedger then splits by the stored weights, and the allocator costs a
trade at the venue's taker fee and the slippage."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from pegkeeper import bootstrap
from pegkeeper.bootstrap.carry import funding_rates
from pegkeeper.config import load_settings
from pegkeeper.domain.errors import VenueMisconfigured

LEGS = [{"instrument_id": "BTC-USD-SWAP"}, {"instrument_id": "BTC-USD-QUARTERLY"}]
CARRY = {"legs": LEGS, "carry": {"enabled": True, "check_interval_seconds": 30}}


def test_the_carry_service_runs_when_enabled_with_two_legs(tmp_path: Path) -> None:
    on = load_settings(data_dir=tmp_path, allocation=CARRY)
    one_leg = load_settings(data_dir=tmp_path, allocation=CARRY | {"legs": LEGS[:1]})
    off = load_settings(data_dir=tmp_path, allocation={"legs": LEGS})
    assert "carry" in bootstrap.select_services([], on)
    assert "carry" not in bootstrap.select_services([], one_leg)
    assert "carry" not in bootstrap.select_services([], off)
    assert bootstrap.select_services(["carry"], off) == ["carry"]  # named: it runs, idle


async def test_hedgers_read_the_stored_weights_and_a_trade_costs_fee_and_slippage(
    tmp_path: Path,
) -> None:
    settings = load_settings(data_dir=tmp_path, venue={"kind": "sim"}, allocation=CARRY)
    runtime = await bootstrap.build_runtime(settings, ["hedger", "carry"])
    try:
        carry = runtime.carry
        assert carry is not None
        assert [leg.instrument_id for leg in carry.legs] == ["BTC-USD-SWAP", "BTC-USD-QUARTERLY"]
        # [sim] taker_fee_rate 0.0005 is 5 bps, and slippage_bps 2
        assert carry.settings.trade_cost_bps == Decimal(7)
        assert carry.settings.check_interval_seconds == 30
        assert carry.settings.spot_instrument_id == "BTC-USD-SWAP"
        weights = {id(hedger.weights) for hedger in runtime.hedgers}
        assert len(runtime.hedgers) == 2 and len(weights) == 1  # one source, shared
        assert runtime.hedgers[0].weights() == (Decimal(1), Decimal(0))
    finally:
        await bootstrap.close_runtime(runtime)
    hedger_only = await bootstrap.build_runtime(settings, ["hedger"])
    try:
        assert hedger_only.carry is None  # another process runs it
        assert hedger_only.hedgers[1].weights is not None
    finally:
        await bootstrap.close_runtime(hedger_only)


def test_a_venue_without_funding_rates_is_refused() -> None:
    venue = SimpleNamespace(funding=None, description="bybit through ccxt")
    with pytest.raises(VenueMisconfigured, match=r"bybit through ccxt gives none .* kind = 'okx'"):
        funding_rates(venue)  # type: ignore[arg-type]

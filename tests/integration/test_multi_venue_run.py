"""A run on two venues: the primary on the OKX simulator (through the real OKX adapter, over
its wire) and a named one, Binance COIN-M, stood in for by the simulated exchange in-process.
Two legs, one per venue: each venue's position follows its leg's share of the liability, and
each venue's funding manager moves collateral on its own account only."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pegkeeper import bootstrap
from pegkeeper.adapters.venues.okx import OkxVenue
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.bootstrap.banner import _venues
from pegkeeper.bootstrap.runtime import Runtime
from pegkeeper.bootstrap.venue import price_ticks
from pegkeeper.bootstrap.venues import build_venues, start_venue
from pegkeeper.bootstrap.web import build_health
from pegkeeper.config import load_settings
from pegkeeper.domain.collateral import OperationKind, OperationState
from pegkeeper.domain.errors import VenueMisconfigured
from pegkeeper.domain.units import round_btc
from pegkeeper.sim.engine import SimEngine

SERVICES = ["hedger", "funding", "liability", "web"]
PRICE = Decimal(10_000)
SWAP, PERP = "BTC-USD-SWAP", "BTC/USD:BTC"
LEGS = [
    {"instrument_id": SWAP, "weight": "2"},
    {"instrument_id": PERP, "venue": "binance", "weight": "1"},
]


def _settings(tmp_path: Path, legs: list[dict[str, str]] = LEGS) -> object:
    calm = {"max_price_age_seconds": 3_600}  # the price is set by hand, once
    return load_settings(
        data_dir=tmp_path,
        demo={"enabled": False, "peg_replay": False, "equities": False},
        hedger={"policy": "maker-band"},  # the whole share, by market orders this far off
        venue=calm,
        venues={"binance": {"kind": "ccxt", "exchange": "binancecoinm", **calm}},
        allocation={"legs": legs},
        sim={"trading_btc": "0", "funding_btc": "2", "taker_fee_rate": "0", "speed": 1},
    )


def _engines(runtime: Runtime) -> dict[str, SimEngine]:
    engines = {name: setup.engine for name, setup in runtime.venues.items()}
    assert all(engine is not None for engine in engines.values())
    return engines  # type: ignore[return-value]


async def _funding_then_hedging(runtime: Runtime) -> None:
    assert runtime.funding is not None
    for manager in runtime.funding.services:
        await manager.cycle("liability")
    for hedger in runtime.hedgers:
        await hedger.cycle("liability", "c")


async def test_each_venue_hedges_its_share_and_funds_its_own_account(tmp_path: Path) -> None:
    runtime = await bootstrap.build_runtime(_settings(tmp_path), SERVICES)  # type: ignore[arg-type]
    try:
        assert list(runtime.venues) == ["primary", "binance"]
        assert isinstance(runtime.venues["primary"].venue, OkxVenue)
        assert isinstance(runtime.venues["binance"].venue, SimVenue)
        assert _venues(runtime) == [
            "  venue primary: the OKX simulator in-process at "
            f"{runtime.venues['primary'].venue._settings.rest_url} (no OKX credentials set); "
            "legs: BTC-USD-SWAP",
            "  venue binance: the simulated exchange in-process, standing in for binancecoinm "
            "(no PEGKEEPER_VENUES__BINANCE__API_KEY set); legs: BTC/USD:BTC",
        ]
        health = build_health(runtime, SERVICES)
        before = await health.readiness()
        assert before["hedger"] == "starting: reconciling with primary, binance"
        assert before["venue binance"] == "starting: reconciling with binance"
        assert before["venue primary"] == "starting: reconciling with primary"
        engines = _engines(runtime)
        for engine in engines.values():
            engine.set_prices(runtime.clock.now_ms(), PRICE)
        for setup in runtime.venues.values():
            await start_venue(runtime.settings, setup)
        assert runtime.funding is not None
        assert [(s.settings.venue_name, s.settings.currency) for s in runtime.funding.services] == [
            ("primary", "BTC"),
            ("binance", "BTC"),
        ]

        await runtime.liability.post("u1", 3_000_000)  # 30 000 USD: 20 000 and 10 000
        await _funding_then_hedging(runtime)
        # stablesats rule 2 at 10 000 USD per BTC: funding -> trading L_btc / 3, to the sat
        assert engines["primary"].balances("BTC").funding_balance == Decimal("1.33333333")
        assert engines["binance"].balances("BTC").funding_balance == Decimal("1.66666667")
        # 20 000 USD in 100 USD contracts; 10 000 USD in Binance's 100 USD contracts
        assert engines["primary"].position(SWAP).size_contracts == -200
        assert engines["binance"].position(PERP).size_contracts == -100
        runtime.hedgers[0].ready.set()  # as its run loop does once reconciled
        after = await health.readiness()
        assert (after["venue primary"], after["venue binance"]) == (
            "ready",
            "starting: reconciling with binance",
        )

        await runtime.liability.post("u2", 1_500_000)  # 45 000 USD: 30 000 and 15 000
        await _funding_then_hedging(runtime)
        # rule 5 (L_btc > 4 C, C the equity after the spread paid): L_btc / 3 - C, to the sat
        decisions = await runtime.store.funding.recent_decisions(2)
        assert sorted((d.venue, d.liability_cents) for d in decisions) == [
            ("binance", 1_500_000),
            ("primary", 3_000_000),
        ]
        for decision in decisions:
            l_btc = Decimal(decision.liability_cents) / (PRICE * 100)
            assert decision.rule == "5-liability-over-high-bound"
            assert decision.amount == round_btc(l_btc / 3 - decision.collateral)
        assert engines["primary"].position(SWAP).size_contracts == -300
        assert engines["binance"].position(PERP).size_contracts == -150

        operations = await runtime.store.funding.recent_operations(20)
        moved: dict[str, Decimal] = {"primary": Decimal(0), "binance": Decimal(0)}
        for record in operations:
            assert record.operation.kind is OperationKind.TRANSFER_TO_TRADING
            assert record.state is OperationState.DONE
            moved[record.operation.venue] += record.operation.amount
        second = {d.venue: d.amount for d in decisions}
        assert moved == {
            "primary": Decimal("0.66666667") + second["primary"],
            "binance": Decimal("0.33333333") + second["binance"],
        }
        # each account's funding balance paid exactly what its own venue's operations moved
        for name, engine in engines.items():
            assert engine.balances("BTC").funding_balance == 2 - moved[name]
    finally:
        await bootstrap.close_runtime(runtime)


async def test_a_leg_on_an_instrument_its_venue_does_not_list_is_refused_at_start(
    tmp_path: Path,
) -> None:
    legs = [LEGS[0], {"instrument_id": "BTCUSD_PERP", "venue": "binance"}]
    runtime = await bootstrap.build_runtime(_settings(tmp_path, legs), SERVICES)  # type: ignore[arg-type]
    try:
        with pytest.raises(VenueMisconfigured) as refused:
            await start_venue(runtime.settings, runtime.venues["binance"])
        message = str(refused.value)
        assert message.startswith(
            "[allocation] leg 2 (BTCUSD_PERP) is on the venue 'binance' (the simulated exchange "
            "in-process, standing in for binancecoinm"
        )
        assert (
            "does not list BTCUSD_PERP; through ccxt an instrument is named by ccxt's " in message
        )
        assert message.endswith(
            "venues configured: primary ([venue], okx), binance ([venues.binance], ccxt)"
        )
    finally:
        await bootstrap.close_runtime(runtime)


BINANCE_KEYS = {f"PEGKEEPER_VENUES__BINANCE__{key}": "k" for key in ("API_KEY", "SECRET_KEY")}
OKX_KEYS = {f"PEGKEEPER_VENUE__{key}": "k" for key in ("API_KEY", "SECRET_KEY", "PASSPHRASE")}


@pytest.mark.parametrize(
    ("env", "venues", "message"),
    [
        (
            BINANCE_KEYS,
            {"kind": "ccxt", "exchange": "binancecoinm"},
            "[venues.binance] has credentials (PEGKEEPER_VENUES__BINANCE__...) while [venue] is "
            "simulated: every venue is real or every one simulated",
        ),
        (
            OKX_KEYS,
            {"kind": "ccxt", "exchange": "bybit"},
            "[venues.binance] has no credentials while [venue] trades on a real exchange, and a "
            "simulator stands in only when no venue is real: set "
            "PEGKEEPER_VENUES__BINANCE__API_KEY",
        ),
        (
            {},
            {"kind": "okx", "rest_url": "http://127.0.0.1:1"},
            "[venues.binance] rest_url is http://127.0.0.1:1, but no credentials are set",
        ),
    ],
)
async def test_venues_that_cannot_run_together_are_refused_before_anything_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    venues: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(
        data_dir=tmp_path,
        demo={"enabled": False},
        venues={"binance": venues},
        allocation={"legs": LEGS},
    )
    with pytest.raises(VenueMisconfigured) as refused:
        await build_venues(settings, price_ticks(settings))
    assert message in str(refused.value)

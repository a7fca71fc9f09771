"""Wiring: what `pegkeeper run` builds from the configuration, before anything connects."""

import json
from pathlib import Path

import pytest

from pegkeeper import bootstrap
from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.config import load_settings

# The dealer's services: no equity hedger (its demo would start a node) in these tests.
DEALER = ["hedger", "funding", "liability", "price-server", "web"]


async def test_quote_feeds_follow_the_configured_sources(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        market_data={"quotes": {"enabled": True, "kraken": {"enabled": False}}},
    )
    service = bootstrap.quote_feeds(settings, MemoryBus(), ManualClock(0))
    health = service.health()
    assert {key.split(".")[0] for key in health} == {"binance", "bitstamp", "coinbase", "okx"}
    # the spec's markets, e.g. Binance: BTC/USDT, BTC/USDC, USDC/USDT, FDUSD/USDT
    assert sorted(k for k in health if k.startswith("binance.")) == [
        "binance.BTC-USDC",
        "binance.BTC-USDT",
        "binance.FDUSD-USDT",
        "binance.USDC-USDT",
    ]
    assert set(health.values()) == {"no quote yet"}
    await service.close()


def test_live_feeds_are_off_in_the_demo(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    chosen = bootstrap.select_services([], settings)
    assert chosen == [
        "hedger",
        "funding",
        "liability",
        "peg-monitor",
        "price-server",
        "equity-hedger",
        "web",
    ]


def test_the_equity_hedger_runs_when_configured_or_in_the_demo_only(tmp_path: Path) -> None:
    no_demo = load_settings(data_dir=tmp_path, demo={"enabled": False})
    no_equities_demo = load_settings(data_dir=tmp_path, demo={"equities": False})

    assert "equity-hedger" not in bootstrap.select_services([], no_demo)
    assert "equity-hedger" not in bootstrap.select_services([], no_equities_demo)


def test_the_bundled_book_is_the_stablesats_fixture() -> None:
    from pegkeeper.bootstrap.pricing import bundled_book_path
    from tests.shared_data import shared_data

    fixture = shared_data() / "okx" / "stablesats-books-snapshot.json"
    assert json.loads(bundled_book_path().read_text()) == json.loads(fixture.read_text())


def test_the_price_server_s_book_source(tmp_path: Path) -> None:
    from pegkeeper.bootstrap.pricing import BookSourceError, book_source
    from tests.grpc_support import write_book

    demo = book_source(load_settings(data_dir=tmp_path))
    assert demo.description == "bundled book file okx-btc-usd-swap-books-snapshot.json"
    assert demo.live is None
    live = book_source(load_settings(data_dir=tmp_path, market_data={"okx": {"enabled": True}}))
    assert live.live is not None and live.books.health() == {
        "BTC-USD-SWAP": "the OKX books feed is not running"
    }
    usdt = write_book(tmp_path / "usdt.json", [("1", "1")], [("2", "1")], inst_id="BTC-USDT")
    with pytest.raises(BookSourceError, match="holds BTC-USDT, but the price server quotes"):
        book_source(load_settings(data_dir=tmp_path, market_data={"okx_book_file": str(usdt)}))
    with pytest.raises(BookSourceError, match=r"cannot read .*\(market_data.okx_book_file\)"):
        book_source(load_settings(data_dir=tmp_path, market_data={"okx_book_file": "nope.json"}))


async def test_the_venue_follows_the_configuration(tmp_path: Path) -> None:
    from pegkeeper.adapters.venues.okx import OkxVenue
    from pegkeeper.adapters.venues.sim import SimVenue
    from pegkeeper.bootstrap.venue import build_venue, price_ticks

    settings = load_settings(data_dir=tmp_path, venue={"kind": "sim"})
    engine = await build_venue(settings, price_ticks(settings))
    assert isinstance(engine.venue, SimVenue) and engine.simulated and not engine.network
    demo = load_settings(data_dir=tmp_path)
    simulator = await build_venue(demo, price_ticks(demo))
    try:
        assert isinstance(simulator.venue, OkxVenue) and simulator.simulated
        assert "OKX simulator in-process" in simulator.description
    finally:
        for close in simulator.closers:
            await close()


@pytest.mark.parametrize(
    ("venue", "demo", "message"),
    [
        ({"kind": "okx", "rest_url": "http://127.0.0.1:1"}, False, "no credentials are set"),
        ({"kind": "ccxt", "exchange": "bybit"}, False, "needs credentials"),
        ({"kind": "ccxt", "exchange": "okx"}, True, r"set \[demo\] enabled = false"),
    ],
)
async def test_a_venue_that_cannot_be_used_is_refused_with_what_to_change(
    tmp_path: Path, venue: dict[str, object], demo: bool, message: str
) -> None:
    from pegkeeper.bootstrap.venue import build_venue, price_ticks
    from pegkeeper.domain.errors import VenueMisconfigured

    settings = load_settings(data_dir=tmp_path, venue=venue, demo={"enabled": demo})
    with pytest.raises(VenueMisconfigured, match=message):
        await build_venue(settings, price_ticks(settings))


async def test_real_keys_with_the_demo_on_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pegkeeper.bootstrap.venue import build_venue, price_ticks
    from pegkeeper.domain.errors import VenueMisconfigured

    for name in ("API_KEY", "SECRET_KEY", "PASSPHRASE"):
        monkeypatch.setenv(f"PEGKEEPER_VENUE__{name}", "x")
    settings = load_settings(data_dir=tmp_path)
    with pytest.raises(VenueMisconfigured, match="simulated users"):
        await build_venue(settings, price_ticks(settings))
    quiet = load_settings(data_dir=tmp_path, demo={"enabled": False})
    real = await build_venue(quiet, price_ticks(quiet))
    assert real.description == "OKX at www.okx.com" and not real.simulated
    for close in real.closers:
        await close()


async def test_the_funding_manager_is_wired_to_the_simulated_exchange(tmp_path: Path) -> None:
    from pegkeeper.adapters.venues.sim_funding import SimFunding
    from pegkeeper.adapters.wallet.sim import SimWallet

    settings = load_settings(
        data_dir=tmp_path,
        venue={"kind": "sim"},
        allocation={
            "legs": [{"instrument_id": "BTC-USD-SWAP"}, {"instrument_id": "BTC-USDT-SWAP"}]
        },
    )
    runtime = await bootstrap.build_runtime(settings, DEALER)
    try:
        funding = runtime.funding
        assert funding is not None and isinstance(funding.wallet, SimWallet)
        # one account per collateral: BTC (with the wallet) and USDT (transfers only)
        assert [s.settings.currency for s in funding.services] == ["BTC", "USDT"]
        assert isinstance(runtime.venue.funding, SimFunding)
        # price ticks reach the simulated chain (blocks) and both funding services
        assert len(runtime.hedgers) == 2 and len(runtime.venue.price_listeners) == 3
        # the simulated wallet pays the simulated exchange's own deposit address
        assert funding.wallet.chain.balance_sats == 10 * 100_000_000
    finally:
        await bootstrap.close_runtime(runtime)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sim": {"leverage": 3}}, r"policy 'stablesats' lets leverage reach 4.*\[sim\] leverage"),
        (
            {"funding": {"wallet": {"kind": "bitcoind"}}},
            "PEGKEEPER_FUNDING__WALLET__BITCOIND_URL",
        ),
        (
            {"funding": {"policy": "galoy-dealer"}, "sim": {"leverage": 2}},
            r"must be at least 3: \[sim\] leverage is 2",
        ),
    ],
)
async def test_a_funding_setup_that_cannot_work_is_refused(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    from pegkeeper.domain.errors import VenueMisconfigured

    settings = load_settings(data_dir=tmp_path, venue={"kind": "sim"}, **options)
    with pytest.raises(VenueMisconfigured, match=message):
        await bootstrap.build_runtime(settings, DEALER)


def test_the_banner_says_when_hedging_was_left_paused() -> None:
    from types import SimpleNamespace

    from pegkeeper.bootstrap.banner import _hedging
    from pegkeeper.services.hedging.control import HedgeControl

    control = HedgeControl()
    assert _hedging(SimpleNamespace(control=control)) == "on"  # type: ignore[arg-type]
    control.pause("alice", 1_700_000_000_000, "maintenance")
    line = _hedging(SimpleNamespace(control=control))  # type: ignore[arg-type]
    assert line == "PAUSED by alice (resume from the dashboard or the API)"

"""Wiring: what `pegkeeper run` builds from the configuration, before anything connects."""

from pathlib import Path

from pegkeeper import bootstrap
from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.config import load_settings


async def test_quote_feeds_follow_the_configured_sources(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        market_data={"quotes": {"enabled": True, "kraken": {"enabled": False}}},
    )
    service = bootstrap._quote_feeds(settings, MemoryBus(), ManualClock(0))
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
    assert chosen == ["hedger", "liability", "peg-monitor", "web"]

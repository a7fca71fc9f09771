"""examples/production.toml: a valid configuration that refuses to start on nothing but the
secrets (and the account's phone number) it expects from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from pegkeeper import bootstrap
from pegkeeper.bootstrap.pricing import refuse_file_book_with_real_venue
from pegkeeper.bootstrap.venue import build_venue, is_real_venue, price_ticks
from pegkeeper.config import ConfigError, load_settings
from pegkeeper.domain.errors import VenueMisconfigured

PRODUCTION = Path(__file__).resolve().parents[2] / "examples" / "production.toml"
FROM_THE_ENVIRONMENT = {
    "PEGKEEPER_VENUE__API_KEY": "okx-key",
    "PEGKEEPER_VENUE__SECRET_KEY": "okx-secret",
    "PEGKEEPER_VENUE__PASSPHRASE": "okx-passphrase",
    "PEGKEEPER_LEDGER__GALOY__CODE": "000000",
    "PEGKEEPER_LEDGER__GALOY__PHONE": "+15550100001",
    "PEGKEEPER_FUNDING__WALLET__BITCOIND_URL": "http://127.0.0.1:8332",
    "PEGKEEPER_ALERTS__WEBHOOK_URL": "https://hooks.example.invalid/T0KEN",
    "PEGKEEPER_WEB__OPERATOR_TOKENS": "alice:0123456789abcdef0123",
}


@pytest.fixture(autouse=True)
def no_pegkeeper_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in FROM_THE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PEGKEEPER_CONFIG", raising=False)


def test_without_its_secrets_it_is_refused_naming_them() -> None:
    with pytest.raises(ConfigError, match="PEGKEEPER_LEDGER__GALOY__CODE"):
        load_settings(PRODUCTION)


async def test_with_its_secrets_it_is_a_real_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FROM_THE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(PRODUCTION)
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert is_real_venue(settings) and not settings.demo.enabled
    assert settings.ledger.source == "galoy" and settings.funding.wallet.kind == "bitcoind"
    assert settings.market_data.okx.enabled and list(settings.web.tokens()) == ["alice"]
    refuse_file_book_with_real_venue(settings)  # live books: nothing refused
    services = bootstrap.select_services([], settings)
    assert {"hedger", "funding", "ledger", "market-data", "price-server"} <= set(services)
    venue = await build_venue(settings, price_ticks(settings))
    try:
        assert venue.description == "OKX at https://www.okx.com" and not venue.simulated
    finally:
        for close in venue.closers:
            await close()


async def test_without_okx_keys_it_never_falls_back_to_the_simulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in FROM_THE_ENVIRONMENT.items():
        if not name.startswith("PEGKEEPER_VENUE__"):
            monkeypatch.setenv(name, value)
    settings = load_settings(PRODUCTION)
    with pytest.raises(VenueMisconfigured, match="PEGKEEPER_VENUE__API_KEY"):
        await build_venue(settings, price_ticks(settings))

"""`pegkeeper auth schwab` against the local Schwab server: the login's tokens stored encrypted
and never shown; a bad pasted address, a refused code or a missing key store nothing.

The command runs as a user runs it (typer's runner, its own event loop) in a worker thread,
while this test's loop serves the local server."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from pegkeeper.adapters.brokers.schwab import build_schwab
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import open_store
from pegkeeper.adapters.store.token_store import (
    ENCRYPTION_KEY_ENV,
    EncryptedTokenStore,
    TokenCipher,
)
from pegkeeper.cli import app
from pegkeeper.domain.credentials import OAuthTokens
from pegkeeper.sim.brokers.schwab_server import SchwabServer

from .conftest import APP_KEY, APP_SECRET, settings_for

runner = CliRunner()


@pytest.fixture
async def server() -> AsyncIterator[SchwabServer]:
    sim = SchwabServer(RealClock().now_ms, app_key=APP_KEY, app_secret=APP_SECRET)
    await sim.start()
    sim.add_account("12345678", Decimal(1000))
    sim.add_account("87654321", Decimal(2000))
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
def config(tmp_path: Path, server: SchwabServer) -> Path:
    path = tmp_path / "pegkeeper.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n\n'
        "[equities.schwab]\n"
        f'base_url = "{server.base_url}"\n'
        f'redirect_uri = "{server.redirect_uri}"\n'
        'account_number = "87654321"\n',
        encoding="utf-8",
    )
    return path


def _database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{(tmp_path / 'data' / 'pegkeeper.db').resolve()}"


def _env(key_hex: str | None) -> dict[str, str | None]:
    return {
        "PEGKEEPER_EQUITIES__SCHWAB__APP_KEY": APP_KEY,
        "PEGKEEPER_EQUITIES__SCHWAB__APP_SECRET": APP_SECRET,
        ENCRYPTION_KEY_ENV: key_hex,
        "PEGKEEPER_CONFIG": None,
    }


async def _browser_lands_on(server: SchwabServer) -> str:
    """What the browser's address bar shows after the user logged in and allowed access."""
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{server.base_url}/v1/oauth/authorize",
            params={"client_id": APP_KEY, "redirect_uri": server.redirect_uri},
        )
    assert response.status_code == 302
    return response.headers["Location"]


async def _auth(config: Path, pasted: str, key_hex: str | None) -> Result:
    return await asyncio.to_thread(
        runner.invoke,
        app,
        ["auth", "schwab", "--config", str(config)],
        input=pasted + "\n",
        env=_env(key_hex),
    )


async def _stored(tmp_path: Path, key_hex: str) -> OAuthTokens | None:
    store = await open_store(_database_url(tmp_path))
    try:
        cipher = TokenCipher.from_hex(key_hex)
        return await EncryptedTokenStore(store.broker_tokens, cipher, RealClock()).load("schwab")
    finally:
        await store.close()


async def test_the_login_is_stored_encrypted_and_reported_without_a_token(
    server: SchwabServer, config: Path, tmp_path: Path
) -> None:
    key_hex = secrets.token_hex(32)
    landed = await _browser_lands_on(server)
    assert "%40" in landed  # Schwab's code ends in "@", sent encoded

    result = await _auth(config, landed, key_hex)

    assert result.exit_code == 0, result.output
    assert f"{server.base_url}/v1/oauth/authorize?client_id={APP_KEY}" in result.output
    assert "2 account(s): ...5678, ...4321" in result.output
    assert "the login expires" in result.output
    tokens = await _stored(tmp_path, key_hex)
    assert tokens is not None
    for secret in (tokens.access_token, tokens.refresh_token, APP_SECRET, key_hex):
        assert secret not in result.output
    store = await open_store(_database_url(tmp_path))
    try:
        vault = EncryptedTokenStore(store.broker_tokens, TokenCipher.from_hex(key_hex), RealClock())
        broker = build_schwab(settings_for(server, account_number="87654321"), vault, RealClock())
        try:
            assert (await broker.account()).cash_usd == Decimal(2000)
        finally:
            await broker.aclose()
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("pasted", "says"),
    [
        ("https://127.0.0.1/?session=5f1e", "has no code=... parameter"),
        ("https://example.com/?code=C0.abc%40", "starting with https://127.0.0.1"),
        ("not a url", "starting with https://127.0.0.1"),
        ("https://127.0.0.1/?error=access_denied", "'access_denied'"),
    ],
)
async def test_a_bad_pasted_address_is_named_and_nothing_is_stored(
    server: SchwabServer, config: Path, tmp_path: Path, pasted: str, says: str
) -> None:
    key_hex = secrets.token_hex(32)

    result = await _auth(config, pasted, key_hex)

    assert result.exit_code == 2
    assert says in result.output and "nothing was stored" in result.output
    assert server.requests["token"] == 0
    assert not (tmp_path / "data" / "pegkeeper.db").exists()


async def test_a_refused_code_stores_nothing(
    server: SchwabServer, config: Path, tmp_path: Path
) -> None:
    key_hex = secrets.token_hex(32)

    result = await _auth(config, "https://127.0.0.1/?code=C0.made-up%40&session=1", key_hex)

    assert result.exit_code == 1
    assert "the login's code was refused" in result.output
    assert "nothing was stored" in result.output
    assert await _stored(tmp_path, key_hex) is None


@pytest.mark.parametrize("key_hex", [None, "0123abcd"])
async def test_a_missing_or_malformed_key_stops_before_the_login(
    server: SchwabServer, config: Path, key_hex: str | None
) -> None:
    result = await _auth(config, "https://127.0.0.1/?code=C0.x%40", key_hex)

    assert result.exit_code == 2
    assert ENCRYPTION_KEY_ENV in result.output
    assert "64 hexadecimal characters" in result.output
    assert "/v1/oauth/authorize" not in result.output
    assert server.requests["token"] == 0


def _hedge_at_schwab(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[equities.schwab]", '[equities]\nbroker = "schwab"\n\n[equities.schwab]'),
        encoding="utf-8",
    )


async def test_after_the_login_broker_check_reads_the_schwab_account(
    server: SchwabServer, config: Path, tmp_path: Path
) -> None:
    key_hex = secrets.token_hex(32)
    assert (await _auth(config, await _browser_lands_on(server), key_hex)).exit_code == 0
    _hedge_at_schwab(config)
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["broker", "check", "--config", str(config), "--json"],
        env=_env(key_hex),
    )
    assert result.exit_code == 0, result.output
    checked = json.loads(result.output)
    assert checked["broker"] == "schwab" and checked["problems"] == []
    assert checked["account"]["account"] == "...4321"
    assert checked["account"]["cash_usd"] == "2000"
    assert checked["account"]["fractional"] is False  # Schwab: whole shares
    assert checked["login_expires_at"] is not None


async def test_broker_check_without_a_login_names_what_to_do(
    server: SchwabServer, config: Path
) -> None:
    _hedge_at_schwab(config)
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["broker", "check", "--config", str(config)],
        env=_env(secrets.token_hex(32)),
    )
    assert result.exit_code == 1
    assert "pegkeeper auth schwab" in result.output

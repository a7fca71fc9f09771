"""`pegkeeper broker check` against the local Alpaca server, for both APIs: the account, cash and
positions as Alpaca states them; refused keys named by their variables, never shown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from pegkeeper.adapters.clock import RealClock
from pegkeeper.cli import app
from pegkeeper.sim.brokers.alpaca_book import AlpacaBook
from pegkeeper.sim.brokers.alpaca_records import Account, Position
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer

from .conftest import ACCOUNT_ID, KEY_ID, SECRET_KEY

runner = CliRunner()


@pytest.fixture
async def server() -> AsyncIterator[AlpacaSimServer]:
    book = AlpacaBook(RealClock().now_ms, Account(ACCOUNT_ID, "PA3TEST00001", Decimal("2500.75")))
    book.prices["AAPL"] = Decimal("190.12")
    book.account(ACCOUNT_ID).positions["AAPL"] = Position(Decimal(7), Decimal(7 * 150))
    sim = AlpacaSimServer(book, key_id=KEY_ID, secret_key=SECRET_KEY)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def _config(tmp_path: Path, server: AlpacaSimServer, broker: str) -> Path:
    path = tmp_path / "pegkeeper.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n\n[equities]\nbroker = "{broker}"\n\n'
        f'[equities.alpaca]\nbase_url = "{server.url}"\naccount_id = "{ACCOUNT_ID}"\n',
        encoding="utf-8",
    )
    return path


async def _check(config: Path, secret: str) -> Result:
    env = {
        "PEGKEEPER_EQUITIES__ALPACA__KEY_ID": KEY_ID,
        "PEGKEEPER_EQUITIES__ALPACA__SECRET_KEY": secret,
        "PEGKEEPER_CONFIG": None,
    }
    args = ["broker", "check", "--config", str(config), "--json"]
    return await asyncio.to_thread(runner.invoke, app, args, env=env)


@pytest.mark.parametrize("broker", ["alpaca-trading", "alpaca-broker"])
async def test_the_alpaca_account_is_read(
    server: AlpacaSimServer, tmp_path: Path, broker: str
) -> None:
    result = await _check(_config(tmp_path, server, broker), SECRET_KEY)
    assert result.exit_code == 0, result.output
    checked = json.loads(result.stdout)
    assert checked["broker"] == broker and checked["problems"] == []
    assert checked["account"]["cash_usd"] == "2500.75"
    assert checked["positions"]["AAPL"]["quantity"] == "7"
    assert checked["login_expires_at"] is None  # keys, not a login that ends


async def test_a_refused_secret_is_a_problem_that_names_the_variables(
    server: AlpacaSimServer, tmp_path: Path
) -> None:
    wrong = "wrong-secret-000000000000000000000000000"
    result = await _check(_config(tmp_path, server, "alpaca-trading"), wrong)
    assert result.exit_code == 1, result.output[:2000]
    checked = json.loads(result.stdout)
    assert any("PEGKEEPER_EQUITIES__ALPACA__SECRET_KEY" in p for p in checked["problems"])
    assert wrong not in result.output and KEY_ID not in result.output

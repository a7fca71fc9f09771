"""`pegkeeper price --mid` and `pegkeeper quote` against a running price server (real grpcio).

The book is the spec's worked example: bids at 1 000 USD/BTC, asks at 10 000 USD/BTC, so the
mid is 5 500 USD/BTC = 550 000 cents per 10^8 sats = 0.0055 cents per sat.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner, Result

from pegkeeper.cli import app
from tests.grpc_support import file_books, serving

runner = CliRunner()


async def cli(*args: str) -> Result:
    """The blocking client in a thread, so the servers on this loop keep answering."""
    return await asyncio.to_thread(runner.invoke, app, list(args))


async def test_the_mid_rate_carries_its_unit(tmp_path: Path) -> None:
    async with serving(file_books(tmp_path)) as stack:
        url = f"127.0.0.1:{stack.servers.price_port}"
        result = await cli("price", "--mid", "--url", url)
        as_json = await cli("price", "--mid", "--json", "--url", url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "mid rate: 0.0055 cents per sat (5,500.00 USD per BTC)"
    assert json.loads(as_json.stdout) == {"ratio_in_cents_per_satoshis": 0.0055}


async def test_a_quote_shows_its_expiry_in_utc_and_the_seconds_left(tmp_path: Path) -> None:
    async with serving(file_books(tmp_path)) as stack:
        now_ms = (int(time.time()) + 1) * 1000  # a whole second: expiry is in whole seconds
        stack.clock.set(now_ms)
        url = f"127.0.0.1:{stack.servers.quote_port}"
        result = await cli("quote", "--buy", "--sats", "100000000", "--url", url)
        as_json = await cli("quote", "--buy", "--sats", "100000000", "--json", "--url", url)
    expires_s = now_ms // 1000 + 120  # quotes live 120 s
    iso = datetime.fromtimestamp(expires_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result.exit_code == 0, result.output
    assert f"expires at {iso} (" in result.stdout and "unix" not in result.stdout
    left = int(result.stdout.split(f"expires at {iso} (")[1].split(" s left)")[0])
    assert 115 <= left <= 121
    body = json.loads(as_json.stdout)
    assert (body["expires_at"], body["expires_at_utc"]) == (expires_s, iso)
    assert 115 <= body["expires_in_seconds"] <= 121

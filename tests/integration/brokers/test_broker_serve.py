"""`python -m pegkeeper.sim.brokers.serve`: a local broker server in its own process, reached
with the JSON line it prints, funded as asked, stopped by its stdin closing or by SIGTERM, and
telling what it answered when it stops."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pegkeeper.sim.brokers.serve import parse

FUNDING = ["--cash=250000", "--holding=AAPL=40", "--price=AAPL=230", "--price=MSFT=480"]


class Served:
    def __init__(self, process: asyncio.subprocess.Process, reach: dict[str, str]) -> None:
        self.process = process
        self.reach = reach

    async def stopped(self) -> dict[str, int]:
        """Waits for the process to end (0); the requests it says it answered."""
        assert self.process.stdout is not None
        assert await asyncio.wait_for(self.process.wait(), 10) == 0
        last = (await self.process.stdout.read()).splitlines()[-1]
        requests: dict[str, int] = json.loads(last)["requests"]
        return requests


async def _serve(broker: str) -> AsyncIterator[Served]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pegkeeper.sim.brokers.serve",
        broker,
        *FUNDING,
        "--exit-on-eof",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        yield Served(process, json.loads(line))
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
async def alpaca() -> AsyncIterator[Served]:
    async for served in _serve("alpaca"):
        yield served


@pytest.fixture
async def schwab() -> AsyncIterator[Served]:
    async for served in _serve("schwab"):
        yield served


async def test_alpaca_in_its_own_process_answers_both_apis(alpaca: Served) -> None:
    reach = alpaca.reach
    assert reach["broker"] == "alpaca"
    trading = {"APCA-API-KEY-ID": reach["key_id"], "APCA-API-SECRET-KEY": reach["secret_key"]}
    async with httpx.AsyncClient(base_url=reach["url"]) as http:
        account = (await http.get("/v2/account", headers=trading)).json()
        order = {"symbol": "MSFT", "qty": "2", "side": "buy", "type": "market"}
        order |= {"time_in_force": "day", "client_order_id": "pk-1"}
        placed = await http.post("/v2/orders", headers=trading, json=order)
        filled = await http.get(f"/v2/orders/{placed.json()['id']}", headers=trading)
        positions = await http.get(
            f"/v1/trading/accounts/{reach['account_id']}/positions",
            auth=(reach["key_id"], reach["secret_key"]),
        )
        refused = await http.get("/v2/account", headers=trading | {"APCA-API-KEY-ID": "PKX"})
    assert account["cash"] == "250000"
    assert (filled.json()["status"], filled.json()["filled_avg_price"]) == ("filled", "480")
    held = {p["symbol"]: p["qty"] for p in positions.json()}
    assert held == {"AAPL": "40", "MSFT": "2"}
    assert refused.status_code == 401
    assert alpaca.process.stdin is not None
    alpaca.process.stdin.close()  # the parent went away
    requests = await alpaca.stopped()
    assert requests["POST /v2/orders"] == 1
    assert requests["GET /v2/account"] == 2


async def test_schwab_in_its_own_process_takes_a_login(schwab: Served) -> None:
    reach = schwab.reach
    basic = base64.b64encode(f"{reach['app_key']}:{reach['app_secret']}".encode()).decode()
    async with httpx.AsyncClient(base_url=reach["url"]) as http:
        query = {"client_id": reach["app_key"], "redirect_uri": reach["redirect_uri"]}
        redirect = await http.get("/v1/oauth/authorize", params=query)
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        form = {"grant_type": "authorization_code", "code": code}
        form["redirect_uri"] = reach["redirect_uri"]
        tokens = await http.post(
            "/v1/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"}
        )
        bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        numbers = (await http.get("/trader/v1/accounts/accountNumbers", headers=bearer)).json()
        account: dict[str, Any] = (
            await http.get(
                f"/trader/v1/accounts/{numbers[0]['hashValue']}",
                params={"fields": "positions"},
                headers=bearer,
            )
        ).json()["securitiesAccount"]
    assert numbers[0]["accountNumber"] == reach["account_number"]
    assert account["currentBalances"]["cashBalance"] == 250000
    assert [(p["instrument"]["symbol"], p["longQuantity"]) for p in account["positions"]] == [
        ("AAPL", 40)
    ]
    schwab.process.send_signal(signal.SIGTERM)
    requests = await schwab.stopped()
    assert requests == {"authorize": 1, "token": 1, "account_numbers": 1, "account": 1}


@pytest.mark.parametrize(
    "bad", ["--price=AAPL=0", "--price=AAPL", "--holding==3", "--cash=x", "--cash=-5"]
)
def test_bad_funding_is_refused_with_its_form(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        parse(["alpaca", bad])
    assert ended.value.code == 2
    assert "error" in capsys.readouterr().err

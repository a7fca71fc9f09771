"""`python -m pegkeeper.sim.brokers.serve`: a local broker server in its own process, reached
with the JSON line it prints, funded as asked, stopped by its stdin closing or by SIGTERM, and
telling what it answered when it stops; Alpaca's with its rebalancing endpoints acting on a
node (anvil) when asked."""

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
from web3 import Web3
from web3.contract import AsyncContract

from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.sim.brokers.serve import parse
from tests.waiting import until

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


async def _serve(broker: str, *options: str) -> AsyncIterator[Served]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pegkeeper.sim.brokers.serve",
        broker,
        *FUNDING,
        *options,
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


REDEMPTION_WALLET = "0x" + "2a" * 20
DEPOSIT_ADDRESS = "0x" + "3b" * 20
MAKER = "0x" + "4c" * 20
WAD = 10**18


@pytest.fixture
async def alpaca_on_chain(world: RaindexWorld) -> AsyncIterator[tuple[Served, AsyncContract]]:
    """Alpaca with its rebalancing endpoints on anvil; the AAPL token it mints."""
    aapl = await world.token("AAPL", 18)
    usdc = await world.token("USDC", 6)
    options = [
        f"--node-url={world.url}",
        f"--token=AAPL={aapl.address}",
        f"--usdc={usdc.address}",
        f"--minter={world.account}",
        f"--redemption-wallet={REDEMPTION_WALLET}",
        f"--deposit-address={DEPOSIT_ADDRESS}",
        f"--whitelist={MAKER}",
    ]
    async for served in _serve("alpaca", *options):
        yield served, aapl


async def test_alpaca_with_its_rebalancing_endpoints_mints_on_the_node(
    alpaca_on_chain: tuple[Served, AsyncContract],
) -> None:
    alpaca, aapl = alpaca_on_chain
    reach = alpaca.reach
    assert set(reach) == {"broker", "url", "key_id", "secret_key", "account_id"}
    base = f"/v1/accounts/{reach['account_id']}"
    auth = (reach["key_id"], reach["secret_key"])
    async with httpx.AsyncClient(base_url=reach["url"], auth=auth) as http:
        mint = {"underlying_symbol": "AAPL", "qty": "3", "issuer": "st0x"}
        mint |= {"network": "base", "wallet_address": MAKER, "issuer_request_id": "m-1"}
        posted = await http.post(f"{base}/tokenization/mint", json=mint)

        async def completed() -> bool:
            answer = await http.get(f"{base}/tokenization/requests", params={"type": "mint"})
            return bool([r["status"] for r in answer.json()] == ["completed"])

        await until(completed, "the mint completed", 20)
        wallet = await http.get(f"{base}/wallets", params={"asset": "USDC"})
        whitelist = await http.get(f"{base}/wallets/whitelists")
        positions = await http.get(f"/v1/trading/accounts/{reach['account_id']}/positions")
    assert posted.status_code == 200, posted.text
    # the 3 shares left the account and arrived onchain as 3 tokens of 18 decimals
    assert {p["symbol"]: p["qty"] for p in positions.json()} == {"AAPL": "37"}
    minted = await aapl.functions.balanceOf(Web3.to_checksum_address(MAKER)).call()
    assert minted == 3 * WAD
    assert wallet.json()["address"] == DEPOSIT_ADDRESS
    assert [(w["address"], w["status"]) for w in whitelist.json()] == [(MAKER, "APPROVED")]
    assert alpaca.process.stdin is not None
    alpaca.process.stdin.close()
    requests = await alpaca.stopped()
    assert requests["POST /v1/accounts/{account_id}/tokenization/mint"] == 1


ADDRESS_A = "0x" + "5d" * 20
ALL_REBALANCING = [
    "--node-url=http://127.0.0.1:8545",
    f"--token=AAPL={ADDRESS_A}",
    f"--usdc={ADDRESS_A}",
    f"--minter={ADDRESS_A}",
    f"--redemption-wallet={ADDRESS_A}",
    f"--deposit-address={ADDRESS_A}",
]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["alpaca", f"--usdc={ADDRESS_A}"], "--usdc: only with --node-url"),
        (["alpaca", "--node-url=http://127.0.0.1:8545"], "--node-url needs --usdc"),
        (["alpaca", *ALL_REBALANCING[:-1]], "--node-url needs --deposit-address"),
        (["alpaca", *ALL_REBALANCING, "--whitelist=0x12"], "--whitelist '0x12'"),
        (["alpaca", *ALL_REBALANCING, "--token=AAPL"], "--token 'AAPL'"),
        (["schwab", *ALL_REBALANCING], "Alpaca's, not schwab's"),
    ],
)
def test_bad_rebalancing_options_are_refused_by_name(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        parse(argv)
    assert ended.value.code == 2
    assert named in capsys.readouterr().err


def test_the_rebalancing_options_read_as_given() -> None:
    args, _ = parse(["alpaca", *ALL_REBALANCING, f"--whitelist={MAKER}", "--token=msft=" + MAKER])
    assert args.rebalancing.tokens == {"AAPL": ADDRESS_A, "MSFT": MAKER}
    assert args.rebalancing.whitelisted == (MAKER,)
    assert parse(["alpaca"])[0].rebalancing is None

"""The OKX simulator as a real local server, spoken to by ccxt's own OKX client (REST and
WebSocket) and by raw signed requests: what it answers, and each fault it injects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.pro
import pytest
from ccxt.base.errors import AuthenticationError, RequestTimeout

from tests.okx_sim import RunningSim, running_sim, signed

SWAP = "BTC/USD:BTC"
LINEAR = "BTC/USDT:USDT"


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim() as running:
        yield running


def client(sim: RunningSim, **overrides: Any) -> Any:
    creds = sim.credentials
    config = {
        "apiKey": creds.api_key,
        "secret": creds.secret_key,
        "password": creds.passphrase,
        "timeout": 3_000,
        "rateLimit": 10,  # ccxt's limiter at OKX's pace would make the suite slow
        "options": {"fetchMarkets": {"types": ["swap", "future"]}},
    } | overrides
    exchange = ccxt.pro.okx(config)
    exchange.urls["api"] = {"rest": sim.rest_url, "ws": sim.ws_url}
    return exchange


@pytest.fixture
async def okx(sim: RunningSim) -> AsyncIterator[Any]:
    exchange = client(sim)
    try:
        yield exchange
    finally:
        await exchange.close()


async def test_ccxt_loads_okx_instruments_from_the_simulator(okx: Any) -> None:
    await okx.load_markets()
    futures = [s for s in okx.symbols if s.startswith("BTC/USD:BTC-")]
    assert {SWAP, LINEAR} <= set(okx.symbols) and len(futures) == 2
    assert okx.market(SWAP)["inverse"] and okx.market(SWAP)["contractSize"] == 100
    assert okx.market(LINEAR)["linear"] and okx.market(LINEAR)["contractSize"] == 0.01
    assert "BTC" in okx.currencies  # from /asset/currencies, signed


async def test_an_order_by_client_id_through_ccxt(sim: RunningSim, okx: Any) -> None:
    created = await okx.create_order(SWAP, "market", "sell", 5, None, {"clientOrderId": "pk1"})
    assert created["clientOrderId"] == "pk1"
    order = await okx.fetch_order(None, SWAP, {"clientOrderId": "pk1"})
    # sells 5 x 100 USD at the best bid 7938.39 - 0.5; OKX reports the fee as negative
    assert (order["status"], order["filled"], order["average"]) == ("closed", 5, 7937.89)
    assert order["info"]["fee"] == "-0.00003150" or Decimal(order["info"]["fee"]) < 0
    (position,) = await okx.fetch_positions([SWAP])
    assert (position["info"]["pos"], position["side"]) == ("-5", "short")
    closed = await okx.close_position(SWAP, None, {"clientOrderId": "pk2"})
    assert closed["clientOrderId"] == "pk2" and sim.position_contracts() == 0
    assert await okx.fetch_positions([SWAP]) == []
    assert sim.requests_for("pk1") == sim.requests_for("pk2") == 1
    with pytest.raises(ccxt.OrderNotFound):
        await okx.fetch_order(None, SWAP, {"clientOrderId": "pk404"})


async def test_limit_and_post_only_orders_rest_and_cancel(sim: RunningSim, okx: Any) -> None:
    resting = await okx.create_order(
        LINEAR, "limit", "buy", 1, 7000, {"clientOrderId": "lim1", "postOnly": True}
    )
    assert resting["clientOrderId"] == "lim1"
    (pending,) = await okx.fetch_open_orders(LINEAR)
    assert pending["info"]["ordType"] == "post_only" and pending["info"]["state"] == "live"
    await okx.cancel_order(None, LINEAR, {"clientOrderId": "lim1"})
    assert await okx.fetch_open_orders(LINEAR) == []
    taker = await okx.create_order(
        LINEAR, "limit", "buy", 1, 8000, {"clientOrderId": "lim2", "postOnly": True}
    )
    assert (await okx.fetch_order(taker["id"], LINEAR))["status"] == "canceled"


async def test_balances_transfers_deposits_withdrawals(sim: RunningSim, okx: Any) -> None:
    trading = await okx.fetch_balance()
    assert trading["BTC"]["total"] == 2 and trading["USDT"]["total"] == 20_000
    assert (await okx.fetch_balance({"type": "funding"}))["BTC"]["free"] == 1
    done = await okx.transfer("BTC", 0.25, "funding", "trading", {"clientId": "tr1"})
    assert done["id"] and sim.engine.balances("BTC").funding_balance == Decimal("0.75")
    _, state = await _raw(sim, "GET", "/api/v5/asset/transfer-state?clientId=tr1")
    assert state["data"][0]["state"] == "success" and state["data"][0]["amt"] == "0.25"
    _, missing = await _raw(sim, "GET", "/api/v5/asset/transfer-state?clientId=nope")
    assert missing["code"] == "58129"
    address = await okx.fetch_deposit_address("BTC")
    assert address["address"] == sim.engine.wallet.address("BTC")
    async with aiohttp.ClientSession() as http:
        await http.post(sim.rest_url + "/sim/v1/deposits", json={"ccy": "BTC", "amt": "0.1"})
    (deposit,) = await okx.fetch_deposits("BTC")
    assert deposit["amount"] == 0.1 and deposit["info"]["state"] == "0"
    sent = await okx.withdraw("BTC", 0.05, "bc1qoperatorcoldwallet", {"clientId": "wd1"})
    assert sent["id"] == "W1"
    (withdrawal,) = await okx.fetch_withdrawals("BTC")
    assert withdrawal["info"]["clientId"] == "wd1" and withdrawal["info"]["state"] == "0"
    rate = await okx.fetch_funding_rate(SWAP)
    assert rate["fundingRate"] == 0.0001


async def test_a_bad_signature_gets_50113(sim: RunningSim) -> None:
    wrong = client(sim, secret="not-the-secret")
    try:
        with pytest.raises(AuthenticationError, match="50113"):
            await wrong.fetch_balance()
    finally:
        await wrong.close()


async def test_answers_before_processing_leave_no_trace(sim: RunningSim) -> None:
    order = {"instId": "BTC-USD-SWAP", "tdMode": "cross", "side": "sell", "ordType": "market"}
    for fault, status, body_code in [
        ("http_429", 429, None),
        ("code_50011", 429, "50011"),
        ("http_5xx", 503, None),
    ]:
        sim.faults.set(fault, "1:orders")
        answer_status, body = await _raw(sim, "POST", "/api/v5/trade/order", order | _cl(fault))
        assert answer_status == status
        if body_code:
            assert body["code"] == body_code
        assert sim.position_contracts() == 0
    status, body = await _raw(sim, "POST", "/api/v5/trade/order", order | _cl("ok") | {"sz": "1"})
    assert status == 200 and body["data"][0]["sCode"] == "0"


async def test_answers_after_processing_leave_the_order_done(sim: RunningSim, okx: Any) -> None:
    await okx.load_markets()
    sim.faults.set("http_5xx_after_accept", "1:orders")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await okx.create_order(SWAP, "market", "sell", 2, None, {"clientOrderId": "a1"})
    assert sim.position_contracts() == -2
    sim.faults.set("timeout_after_accept", "1")
    sim.faults.set("hang_seconds", "5")
    okx.timeout = 500
    with pytest.raises(RequestTimeout):
        await okx.create_order(SWAP, "market", "sell", 3, None, {"clientOrderId": "a2"})
    okx.timeout = 3_000
    assert (await okx.fetch_order(None, SWAP, {"clientOrderId": "a2"}))["status"] == "closed"
    assert sim.position_contracts() == -5


async def test_rejected_and_partly_filled_orders(sim: RunningSim, okx: Any) -> None:
    sim.faults.set("reject_order", "1")
    with pytest.raises(ccxt.InsufficientFunds, match="51008"):
        await okx.create_order(SWAP, "market", "sell", 2, None, {"clientOrderId": "r1"})
    sim.faults.set_many({"partial_fill": "1", "partial_fill_delay_seconds": "0.3"})
    await okx.create_order(SWAP, "market", "sell", 10, None, {"clientOrderId": "p1"})
    first = await okx.fetch_order(None, SWAP, {"clientOrderId": "p1"})
    assert (first["status"], first["filled"]) == ("open", 5)
    await asyncio.sleep(0.6)
    later = await okx.fetch_order(None, SWAP, {"clientOrderId": "p1"})
    assert (later["status"], later["filled"]) == ("closed", 10)


async def test_empty_positions_stale_tickers_and_latency(sim: RunningSim, okx: Any) -> None:
    await okx.create_order(SWAP, "market", "sell", 2, None, {"clientOrderId": "e1"})
    sim.faults.set("empty_positions", "on")
    assert await okx.fetch_positions([SWAP]) == []
    balance = await _raw(sim, "GET", "/api/v5/account/balance?ccy=BTC")
    assert Decimal(balance[1]["data"][0]["details"][0]["imr"]) > 0  # the margin still shows it
    sim.faults.set("stale_tickers", "on")
    first = await okx.fetch_ticker(SWAP)
    await asyncio.sleep(0.3)
    assert (await okx.fetch_ticker(SWAP))["timestamp"] == first["timestamp"]
    sim.faults.clear()
    await asyncio.sleep(0.2)
    assert (await okx.fetch_ticker(SWAP))["timestamp"] > first["timestamp"]
    sim.faults.set("latency_ms", "300")
    started = asyncio.get_running_loop().time()
    await okx.fetch_ticker(SWAP)
    assert asyncio.get_running_loop().time() - started >= 0.3


async def test_websockets_push_silence_and_drop(sim: RunningSim, okx: Any) -> None:
    positions = await asyncio.wait_for(okx.watch_positions([SWAP]), 5)
    assert positions and positions[0]["symbol"] == SWAP
    await asyncio.wait_for(okx.watch_positions([SWAP]), 2)  # pushed again at the interval
    ticker = await asyncio.wait_for(okx.watch_ticker(SWAP), 5)
    assert ticker["last"] == 7938.39
    sim.faults.set("ws_silent", "on")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(okx.watch_positions([SWAP]), 1)
    sim.faults.set("ws_silent", "off")
    assert await sim.exchange.server.hub.drop_all() == 2
    assert sim.exchange.server.hub.open_connections == 0


async def test_the_controls_switch_faults_and_refuse_bad_ones(sim: RunningSim) -> None:
    async with aiohttp.ClientSession() as http:
        url = sim.rest_url + "/sim/v1/faults"
        async with http.post(url, json={"http_429": "2:orders", "ws_silent": "on"}) as answer:
            assert (await answer.json())["active"] == {"http_429": "2:orders", "ws_silent": "on"}
        async with http.post(url, json={"http_429": "lots"}) as answer:
            assert answer.status == 400 and "http_429" in (await answer.json())["error"]
        async with http.post(url, json={"nonsense": "1"}) as answer:
            assert answer.status == 400 and "unknown fault" in (await answer.json())["error"]
        async with http.delete(url) as answer:
            assert (await answer.json())["active"] == {}
        async with http.post(sim.rest_url + "/sim/v1/price", json={"price": "8000"}) as answer:
            assert (await answer.json())["positions"]["BTC-USD-SWAP"] == "0"
        assert sim.engine.mark_price_usd("BTC-USDT-SWAP") == 8000


def _cl(name: str) -> dict[str, str]:
    return {"clOrdId": name.replace("_", ""), "sz": "1"}


async def _raw(sim: RunningSim, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        return await signed(http, sim, method, path, body)

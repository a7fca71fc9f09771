"""The simulator's answers have the shapes of OKX's real payloads (shared/data/okx/nautilus):
every field of the recorded payload, with the same JSON type. Values differ, and the
simulator may send a few fields real OKX sends that the recording lacks (listed here)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from pegkeeper.sim.okx_server.render_market import settled_funding_json
from tests.okx_sim import RunningSim, login_message, running_sim, signed
from tests.shared_data import shared_data

NAUTILUS = shared_data() / "okx" / "nautilus"
ORDER = {"instId": "BTC-USD-SWAP", "tdMode": "cross", "side": "sell", "ordType": "market"}

# Fields real OKX sends that a recording lacks (cross margin, newer API versions).
EXTRA_ALLOWED = {
    "position": {"imr", "closeOrderAlgo"},
    "balance": {"availEq"},
    "balance_detail": {"coinUsdPrice", "colBorrAutoConversion", "collateralRestrict"},
    "order": set(),
    "ws_order": set(),
    "instrument_futures": {
        "contTdSwTime",
        "futureSettlement",
        "instIdCode",
        "maxPlatOILmt",
        "openType",
        "posLmtAmt",
        "posLmtPct",
        "preMktSwTime",
        "tradeQuoteCcyList",
        "auctionEndTime",
    },
    "funding_rate": {
        "formulaType",
        "impactValue",
        "instType",
        "interestRate",
        "maxFundingRate",
        "method",
        "minFundingRate",
        "premium",
        "settFundingRate",
        "settState",
    },
}


def fixture(name: str) -> Any:
    return json.loads((NAUTILUS / name).read_text())


def json_type(value: Any) -> str:
    return type(value).__name__


def assert_same_shape(sim: dict[str, Any], real: dict[str, Any], extra: set[str]) -> None:
    missing = set(real) - set(sim)
    assert not missing, f"fields of the real payload the simulator lacks: {sorted(missing)}"
    unexpected = set(sim) - set(real) - extra
    assert not unexpected, f"fields the simulator adds: {sorted(unexpected)}"
    wrong = {
        k: (json_type(sim[k]), json_type(real[k]))
        for k in real
        if json_type(sim[k]) != json_type(real[k])
    }
    assert not wrong, f"fields whose JSON type differs (simulator, real): {wrong}"


@pytest.fixture(scope="module")
def answers() -> dict[str, Any]:
    """Every payload the tests compare, fetched once from one simulator."""

    async def fetch() -> dict[str, Any]:
        async with running_sim() as sim, aiohttp.ClientSession() as http:
            return await _collect(sim, http)

    return asyncio.run(fetch())


async def _collect(sim: RunningSim, http: aiohttp.ClientSession) -> dict[str, Any]:
    async def get(path: str) -> Any:
        status, body = await signed(http, sim, "GET", path)
        assert status == 200 and body["code"] == "0", body
        return body

    async def post(path: str, body: Any) -> Any:
        status, answer = await signed(http, sim, "POST", path, body)
        assert status == 200 and answer["code"] == "0", answer
        return answer

    placed = (
        await signed(
            http, sim, "POST", "/api/v5/trade/order", ORDER | {"sz": "5", "clOrdId": "shape1"}
        )
    )[1]
    limit = ORDER | {
        "side": "buy",
        "ordType": "post_only",
        "px": "7000.0",
        "sz": "1",
        "clOrdId": "shape2",
    }
    await signed(http, sim, "POST", "/api/v5/trade/order", limit)
    ws = await _ws_pushes(sim, http)
    return {
        "envelope": placed,
        "swap": await get("/api/v5/public/instruments?instType=SWAP"),
        "futures": await get("/api/v5/public/instruments?instType=FUTURES"),
        "mark": await get("/api/v5/public/mark-price?instType=SWAP&instId=BTC-USD-SWAP"),
        "funding": await get("/api/v5/public/funding-rate?instId=BTC-USD-SWAP"),
        "books": await get("/api/v5/market/books?instId=BTC-USD-SWAP&sz=3"),
        "ticker": await get("/api/v5/market/ticker?instId=BTC-USD-SWAP"),
        "positions": await get("/api/v5/account/positions?instId=BTC-USD-SWAP"),
        "balance": await get("/api/v5/account/balance?ccy=BTC"),
        "order": await get("/api/v5/trade/order?instId=BTC-USD-SWAP&clOrdId=shape1"),
        "pending": await get("/api/v5/trade/orders-pending?instId=BTC-USD-SWAP"),
        "set_mode": await post("/api/v5/account/set-position-mode", {"posMode": "net_mode"}),
    } | ws


async def _ws_pushes(sim: RunningSim, http: aiohttp.ClientSession) -> dict[str, Any]:
    pushes: dict[str, Any] = {}
    async with http.ws_connect(sim.ws_url + "/public") as public:
        await public.send_str(orjson.dumps({"op": "subscribe", "args": [
            {"channel": "tickers", "instId": "BTC-USD-SWAP"},
            {"channel": "funding-rate", "instId": "BTC-USD-SWAP"},
        ]}).decode())  # fmt: skip
        await _gather(public, pushes, {"tickers", "funding-rate"})
    async with http.ws_connect(sim.ws_url + "/private") as private:
        await private.send_str(login_message(sim.credentials))
        await private.receive_str()
        await private.send_str(orjson.dumps({"op": "subscribe", "args": [
            {"channel": "account", "ccy": "BTC"}, {"channel": "orders", "instType": "SWAP"},
        ]}).decode())  # fmt: skip
        await signed(
            http, sim, "POST", "/api/v5/trade/order", ORDER | {"sz": "1", "clOrdId": "shape3"}
        )
        await _gather(private, pushes, {"account", "orders"})
    return pushes


async def _gather(
    ws: aiohttp.ClientWebSocketResponse, into: dict[str, Any], wanted: set[str]
) -> None:
    while not wanted <= set(into):
        message = orjson.loads(await asyncio.wait_for(ws.receive_str(), 5))
        if "data" in message:
            into.setdefault(message["arg"]["channel"], message)


def test_the_envelope_and_the_place_order_answer(answers: dict[str, Any]) -> None:
    envelope = answers["envelope"]
    assert set(envelope) >= {"code", "msg", "data"} and envelope["code"] == "0"
    assert_same_shape(envelope["data"][0], fixture("http_place_order_response.json"), {"ts"})


@pytest.mark.parametrize(
    ("answer", "fixture_name", "extra"),
    [
        ("swap", "http_get_instruments_swap.json", set()),
        ("futures", "http_get_instruments_futures.json", EXTRA_ALLOWED["instrument_futures"]),
        ("mark", "http_get_mark_price.json", set()),
        ("books", "http_get_order_book.json", set()),
        ("positions", "http_get_positions.json", EXTRA_ALLOWED["position"]),
        ("order", "http_get_orders_history.json", EXTRA_ALLOWED["order"]),
        ("pending", "http_get_orders_pending.json", EXTRA_ALLOWED["order"]),
        ("set_mode", "http_set_position_mode_response.json", set()),
    ],
)
def test_rest_answers_have_the_real_shapes(
    answers: dict[str, Any], answer: str, fixture_name: str, extra: set[str]
) -> None:
    real = fixture(fixture_name)
    assert_same_shape(answers[answer], real, set())  # the envelope
    assert answers[answer]["data"], f"{answer}: no data to compare"
    assert_same_shape(answers[answer]["data"][0], real["data"][0], extra)


def test_the_balance_and_its_details(answers: dict[str, Any]) -> None:
    real = fixture("http_get_account_balance.json")["data"][0]
    sim = answers["balance"]["data"][0]
    assert_same_shape(sim, real, EXTRA_ALLOWED["balance"])
    assert_same_shape(sim["details"][0], real["details"][0], EXTRA_ALLOWED["balance_detail"])


def test_websocket_pushes_have_the_real_shapes(answers: dict[str, Any]) -> None:
    for channel, name, extra in [
        ("tickers", "ws_tickers.json", set()),
        ("funding-rate", "ws_funding_rate.json", EXTRA_ALLOWED["funding_rate"]),
        ("orders", "ws_orders.json", EXTRA_ALLOWED["ws_order"]),
    ]:
        real, sim = fixture(name), answers[channel]
        assert set(sim) == set(real), channel
        assert_same_shape(sim["data"][0], real["data"][0], extra)
    real_account, sim_account = fixture("ws_account.json")["data"][0], answers["account"]["data"][0]
    assert_same_shape(sim_account["details"][0], real_account["details"][0], set())


def test_the_rest_ticker_and_funding_rate_match_their_websocket_shapes(
    answers: dict[str, Any],
) -> None:
    assert_same_shape(answers["ticker"]["data"][0], fixture("ws_tickers.json")["data"][0], set())
    real_rate = fixture("ws_funding_rate.json")["data"][0]
    assert_same_shape(answers["funding"]["data"][0], real_rate, EXTRA_ALLOWED["funding_rate"])


def test_a_settled_funding_rate_has_the_real_shape() -> None:
    real = fixture("http_get_funding_rate_history.json")["data"][0]
    sim = settled_funding_json("BTC-USD-SWAP", 1704067200000, Decimal("-0.0003"))
    assert_same_shape(sim, real, {"formulaType", "method"})

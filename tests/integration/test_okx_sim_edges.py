"""The OKX simulator's answers to wrong or unusual requests, REST and WebSocket: OKX's codes."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest

from tests.okx_sim import RunningSim, login_message, running_sim, signed

ORDER = {"instId": "BTC-USD-SWAP", "tdMode": "cross", "side": "sell", "ordType": "market"}


@pytest.fixture(scope="module")
def answers() -> dict[str, Any]:
    async def collect() -> dict[str, Any]:
        async with running_sim() as sim, aiohttp.ClientSession() as http:
            return await _requests(sim, http) | await _websocket(sim, http)

    return asyncio.run(collect())


async def _requests(sim: RunningSim, http: aiohttp.ClientSession) -> dict[str, Any]:
    async def call(method: str, path: str, body: Any = None) -> Any:
        return (await signed(http, sim, method, "/api/v5/" + path, body))[1]

    found: dict[str, Any] = {}
    for name, method, path, body in CASES:
        found[name] = await call(method, path, body)
    return found


CASES: list[tuple[str, str, str, Any]] = [
    ("no_route", "GET", "account/interest-accrued", None),
    ("inst_type", "GET", "public/instruments?instType=STOCKS", None),
    ("no_inst_type", "GET", "public/instruments", None),
    ("one_inst", "GET", "public/instruments?instType=SWAP&instId=BTC-USDT-SWAP", None),
    ("tickers", "GET", "market/tickers?instType=SWAP", None),
    ("books_bad_sz", "GET", "market/books?instId=BTC-USD-SWAP&sz=9999", None),
    ("unknown_inst", "GET", "market/ticker?instId=DOGE-USD-SWAP", None),
    ("marks", "GET", "public/mark-price?instType=FUTURES", None),
    ("future_funding", "GET", "public/instruments?instType=FUTURES", None),
    ("lev_no_inst", "GET", "account/leverage-info?mgnMode=cross", None),
    ("lev_isolated", "GET", "account/leverage-info?instId=BTC-USD-SWAP&mgnMode=isolated", None),
    (
        "set_lev",
        "POST",
        "account/set-leverage",
        {"instId": "BTC-USD-SWAP", "lever": "5", "mgnMode": "cross"},
    ),
    (
        "set_lev_bad",
        "POST",
        "account/set-leverage",
        {"instId": "BTC-USD-SWAP", "lever": "500", "mgnMode": "cross"},
    ),
    ("positions_bad", "GET", "account/positions?instId=NOPE-SWAP", None),
    ("balance_all", "GET", "account/balance", None),
    ("isolated", "POST", "trade/order", ORDER | {"tdMode": "isolated", "sz": "1", "clOrdId": "e1"}),
    ("ord_type", "POST", "trade/order", ORDER | {"ordType": "fok", "sz": "1", "clOrdId": "e2"}),
    ("pos_side", "POST", "trade/order", ORDER | {"posSide": "long", "sz": "1", "clOrdId": "e3"}),
    ("side", "POST", "trade/order", ORDER | {"side": "short", "sz": "1", "clOrdId": "e4"}),
    ("no_size", "POST", "trade/order", ORDER | {"clOrdId": "e5"}),
    ("bad_size", "POST", "trade/order", ORDER | {"sz": "1.5", "clOrdId": "e6"}),
    ("not_json", "POST", "trade/order", ["not", "an", "object"]),
    (
        "batch",
        "POST",
        "trade/batch-orders",
        [ORDER | {"sz": "2", "clOrdId": "b1"}, ORDER | {"sz": "-1", "clOrdId": "b2"}],
    ),
    ("batch_empty", "POST", "trade/batch-orders", []),
    ("lookup_nothing", "GET", "trade/order?instId=BTC-USD-SWAP", None),
    ("lookup_by_ordid", "GET", "trade/order?instId=BTC-USD-SWAP&ordId=999999", None),
    ("cancel_filled", "POST", "trade/cancel-order", {"instId": "BTC-USD-SWAP", "clOrdId": "b1"}),
    ("fills", "GET", "trade/fills?instId=BTC-USD-SWAP", None),
    ("mode_busy", "POST", "account/set-position-mode", {"posMode": "long_short_mode"}),
    ("mode_bad", "POST", "account/set-position-mode", {"posMode": "both"}),
    (
        "close_isolated",
        "POST",
        "trade/close-position",
        {"instId": "BTC-USD-SWAP", "mgnMode": "isolated"},
    ),
    (
        "close_long",
        "POST",
        "trade/close-position",
        {"instId": "BTC-USD-SWAP", "mgnMode": "cross", "posSide": "long"},
    ),
    ("ccy", "GET", "asset/deposit-address?ccy=DOGE", None),
    ("from", "POST", "asset/transfer", {"ccy": "BTC", "amt": "1", "from": "1", "to": "18"}),
    (
        "sub_account",
        "POST",
        "asset/transfer",
        {"ccy": "BTC", "amt": "1", "from": "6", "to": "18", "type": "1"},
    ),
    (
        "amt",
        "POST",
        "asset/transfer",
        {"ccy": "BTC", "amt": "0.000000001", "from": "6", "to": "18"},
    ),
    ("by_trans_id", "GET", "asset/transfer-state?transId=1", None),
    ("dest", "POST", "asset/withdrawal", {"ccy": "BTC", "amt": "0.1", "dest": "3", "toAddr": "x"}),
    (
        "low_fee",
        "POST",
        "asset/withdrawal",
        {"ccy": "BTC", "amt": "0.1", "dest": "4", "toAddr": "x", "fee": "0"},
    ),
    ("wd_filter", "GET", "asset/withdrawal-history?ccy=BTC&state=2", None),
    ("usdt_currency", "GET", "asset/currencies?ccy=USDT", None),
]


def code(answers: dict[str, Any], name: str) -> str:
    body = answers[name]
    data = body.get("data") or []
    return (
        str(data[0]["sCode"])
        if data and "sCode" in data[0] and data[0]["sCode"] != "0"
        else str(body["code"])
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("no_route", "50000"), ("inst_type", "51000"), ("no_inst_type", "50014"),
        ("books_bad_sz", "51000"), ("unknown_inst", "51001"), ("lev_no_inst", "50014"),
        ("lev_isolated", "51000"), ("set_lev_bad", "51000"), ("positions_bad", "51001"),
        ("isolated", "51000"), ("ord_type", "51000"), ("pos_side", "51000"), ("side", "51000"),
        ("no_size", "50014"), ("bad_size", "51000"), ("not_json", "50002"),
        ("batch_empty", "51000"), ("lookup_nothing", "50014"), ("lookup_by_ordid", "51603"),
        ("cancel_filled", "51402"), ("mode_busy", "59000"), ("mode_bad", "51000"),
        ("close_isolated", "51000"), ("close_long", "51000"), ("ccy", "51000"),
        ("from", "51000"), ("sub_account", "51000"), ("amt", "51000"),
        ("by_trans_id", "58129"), ("dest", "51000"), ("low_fee", "58208"),
    ],
)  # fmt: skip
def test_wrong_requests_get_okx_codes(answers: dict[str, Any], name: str, expected: str) -> None:
    assert code(answers, name) == expected, answers[name]


def test_good_but_unusual_requests(answers: dict[str, Any]) -> None:
    assert [i["instId"] for i in answers["one_inst"]["data"]] == ["BTC-USDT-SWAP"]
    assert {t["instId"] for t in answers["tickers"]["data"]} == {"BTC-USD-SWAP", "BTC-USDT-SWAP"}
    assert len(answers["marks"]["data"]) == 2  # the two quarterly futures
    assert answers["set_lev"]["data"][0]["lever"] == "5"
    assert {d["ccy"] for d in answers["balance_all"]["data"][0]["details"]} == {"BTC", "USDT"}
    batch = answers["batch"]
    assert batch["code"] == "2" and [d["sCode"] for d in batch["data"]] == ["0", "51000"]
    assert [f["clOrdId"] for f in answers["fills"]["data"]] == ["b1"]
    assert answers["wd_filter"]["data"] == []
    assert [c["chain"] for c in answers["usdt_currency"]["data"]] == ["USDT-TRC20"]


async def _websocket(sim: RunningSim, http: aiohttp.ClientSession) -> dict[str, Any]:
    async def send(ws: aiohttp.ClientWebSocketResponse, message: Any) -> Any:
        """The answer to `message`: data pushed on a subscription meanwhile is passed over."""
        await ws.send_str(message if isinstance(message, str) else orjson.dumps(message).decode())
        while True:
            text = await asyncio.wait_for(ws.receive_str(), 5)
            if text == "pong":
                return text
            answer = orjson.loads(text)
            if "data" not in answer:
                return answer

    found: dict[str, Any] = {}
    async with http.ws_connect(sim.ws_url + "/public") as public:
        found["ws_pong"] = await send(public, "ping")
        found["ws_illegal"] = await send(public, "{nonsense")
        found["ws_channel"] = await send(
            public, {"op": "subscribe", "args": [{"channel": "positions"}]}
        )
        books = {"channel": "books5", "instId": "BTC-USD-SWAP"}
        found["ws_books_ack"] = await send(public, {"op": "subscribe", "args": [books]})
        found["ws_books"] = orjson.loads(await asyncio.wait_for(public.receive_str(), 5))
        found["ws_unsub"] = await send(public, {"op": "unsubscribe", "args": [books]})
    async with http.ws_connect(sim.ws_url + "/private") as private:
        found["ws_not_logged_in"] = await send(
            private, {"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}
        )
        wrong = login_message(sim.credentials, now_s=1)
        found["ws_bad_login"] = await send(private, wrong)
        found["ws_login"] = await send(private, login_message(sim.credentials))
        found["ws_positions_ack"] = await send(
            private, {"op": "subscribe", "args": [{"channel": "positions", "instType": "ANY"}]}
        )
        found["ws_positions"] = orjson.loads(await asyncio.wait_for(private.receive_str(), 5))
    return found


def test_the_websockets_answer_as_okx(answers: dict[str, Any]) -> None:
    assert answers["ws_pong"] == "pong"
    assert answers["ws_illegal"]["code"] == "60012"
    assert answers["ws_channel"]["code"] == "60018"  # positions is private
    assert answers["ws_books_ack"]["event"] == "subscribe"
    book = answers["ws_books"]["data"][0]
    assert len(book["asks"]) == len(book["bids"]) == 5 and book["instId"] == "BTC-USD-SWAP"
    assert answers["ws_unsub"]["event"] == "unsubscribe"
    assert answers["ws_not_logged_in"]["code"] == "60011"
    assert answers["ws_bad_login"]["code"] == "60006"  # the timestamp of 1970
    assert (answers["ws_login"]["event"], answers["ws_login"]["code"]) == ("login", "0")
    pushed = answers["ws_positions"]
    assert pushed["arg"]["uid"] and [p["pos"] for p in pushed["data"]] == ["-2"]

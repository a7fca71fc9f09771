"""Local WebSocket servers that speak each exchange's public protocol for the channel ccxt
watches, serving messages in the exchange's own wire layout, with switches for the failures
seen in production: a dropped socket, a silent stall, a refused handshake, an error answer.

Each subscription is served one "round" of messages, the next subscription the next round, so
that a reconnection brings fresh values. Time fields (OKX `ts`, Coinbase and Kraken `timestamp`,
Bitstamp `timestamp` and `microtimestamp`) are set when a message is sent, as the exchange sets
them, unless `restamp` is off: then the recorded times go out.
"""

from __future__ import annotations

import copy
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import orjson
from aiohttp import WSMsgType, web

from tests.shared_data import shared_data

Message = dict[str, Any]
Top = tuple[str, str, str, str]  # best bid, its size, best ask, its size, as sent


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Answer:
    replies: list[Message | str] = field(default_factory=list)  # sent at once: acks, pongs
    subscribe: bool = False  # then a round of data follows the replies
    error: Message | None = None  # sent instead, while `error_subscribes` is on


class ExchangeServer:
    exchange: ClassVar[str]
    symbol: ClassVar[str]  # ccxt unified symbol served
    route: ClassVar[str]  # aiohttp route of the WebSocket endpoint
    url_path: ClassVar[str]  # path of the URL handed to ccxt

    def __init__(self) -> None:
        # switches
        self.silent = False  # answer nothing at all: no acks, no data, no application pongs
        self.refuse = False  # answer the WebSocket handshake with HTTP 503
        self.error_subscribes = False  # answer every subscription with the exchange's error
        self.restamp = True
        # what happened
        self.connections = 0
        self.refused = 0
        self.subscribes = 0
        self.rounds = 0  # rounds served, all connections
        self.sent = 0  # data messages sent
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._live: dict[web.WebSocketResponse, web.Request] = {}

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.url_path}"

    @property
    def rest_url(self) -> str | None:
        return None

    def expected_top(self, round_index: int) -> Top:
        return self.top_of(self.round_messages(round_index)[-1])

    async def start(self) -> ExchangeServer:
        app = web.Application()
        app.router.add_get(self.route, self._handle)
        self.add_routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        for ws in list(self._live):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def drop(self) -> None:
        """Abort every open connection at the TCP level, without a close frame."""
        for request in list(self._live.values()):
            if request.transport is not None:
                request.transport.abort()

    # the exchange's protocol
    def add_routes(self, app: web.Application) -> None:
        pass

    def greeting(self) -> list[Message]:
        return []

    def answer(self, text: str) -> Answer:
        raise NotImplementedError

    def round_messages(self, round_index: int) -> list[Message]:
        raise NotImplementedError

    def top_of(self, message: Message) -> Top:
        raise NotImplementedError

    def stamp(self, message: Message, index: int) -> Message:
        return message

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.refuse:
            self.refused += 1
            raise web.HTTPServiceUnavailable()
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        self._live[ws] = request
        try:
            for message in self.greeting():
                await self._send(ws, message)
            async for frame in ws:
                if frame.type is WSMsgType.TEXT and not self.silent:
                    await self._on_text(ws, frame.data)
        finally:
            self._live.pop(ws, None)
        return ws

    async def _on_text(self, ws: web.WebSocketResponse, text: str) -> None:
        answer = self.answer(text)
        if answer.subscribe:
            self.subscribes += 1
            if self.error_subscribes:
                assert answer.error is not None, f"{self.exchange}: no error answer"
                await self._send(ws, answer.error)
                return
        for reply in answer.replies:
            await self._send(ws, reply)
        if not answer.subscribe:
            return
        round_index = self.rounds
        self.rounds += 1
        for index, message in enumerate(self.round_messages(round_index)):
            if self.silent or ws.closed:
                return
            stamped = self.stamp(copy.deepcopy(message), index) if self.restamp else message
            await self._send(ws, stamped)
            self.sent += 1

    async def _send(self, ws: web.WebSocketResponse, message: Message | str) -> None:
        text = message if isinstance(message, str) else orjson.dumps(message).decode()
        await ws.send_str(text)


def _okx_bbo_from_ccxt_docstring() -> Message:
    # the bbo-tbt push quoted in ccxt's pro/okx.py handle_bid_ask docstring
    return {
        "arg": {"channel": "bbo-tbt", "instId": "BTC-USDT"},
        "data": [
            {
                "asks": [["36232.2", "1.8826134", "0", "17"]],
                "bids": [["36232.1", "0.00572212", "0", "2"]],
                "ts": "1651826598363",
            }
        ],
    }


class OkxServer(ExchangeServer):
    """OKX v5 public `bbo-tbt`: round 0 is OKX's documented example as kept in nautilus_trader's
    test data (shared data okx/nautilus/ws_bbo_tbt.json), round 1 the push in ccxt's docstring."""

    exchange, symbol, route, url_path = "okx", "BTC/USDT", "/ws/v5/public", "/ws/v5"

    def __init__(self) -> None:
        super().__init__()
        example = orjson.loads(
            (shared_data() / "okx" / "nautilus" / "ws_bbo_tbt.json").read_bytes()
        )
        self._rounds: list[Message] = [example, _okx_bbo_from_ccxt_docstring()]

    def answer(self, text: str) -> Answer:
        if text == "ping":
            return Answer(["pong"])
        body = orjson.loads(text)
        acks: list[Message | str] = [{"event": body["op"], "arg": arg} for arg in body["args"]]
        # error layout of OKX's docs (also quoted in ccxt's okx.handle_error_message)
        error = {
            "event": "error",
            "code": "60012",
            "msg": f"Invalid request: {text}",
            "connId": "t",
        }
        return Answer(acks, body["op"] == "subscribe", error)

    def round_messages(self, round_index: int) -> list[Message]:
        return [self._rounds[round_index % len(self._rounds)]]

    def top_of(self, message: Message) -> Top:
        data = message["data"][0]
        return (*data["bids"][0][:2], *data["asks"][0][:2])

    def stamp(self, message: Message, index: int) -> Message:
        message["data"][0]["ts"] = str(int(time.time() * 1000))
        return message


class BinanceServer(ExchangeServer):
    """Binance spot raw stream `<symbol>@bookTicker`. Payloads recorded by cryptofeed on
    2021-08-14 (bmoscon/cryptofeed sample_data/BINANCE.ws.1.0), without the combined-stream
    envelope, since ccxt subscribes on a raw /ws stream. Spot book tickers carry no time."""

    exchange, symbol, route, url_path = "binance", "FTM/USDT", "/ws/{stream}", "/ws"
    ROUNDS: ClassVar[list[Message]] = [
        {"u": 800360982, "s": "FTMUSDT", "b": "0.33989000", "B": "1565.60000000",
         "a": "0.34012000", "A": "703.00000000"},
        {"u": 800360991, "s": "FTMUSDT", "b": "0.33993000", "B": "1500.00000000",
         "a": "0.34011000", "A": "2746.10000000"},
    ]  # fmt: skip

    def answer(self, text: str) -> Answer:
        body = orjson.loads(text)
        request_id = body.get("id")
        # error layout of Binance's "Error Messages" section (also in ccxt's handle_ws_error)
        error = {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": request_id}
        return Answer([{"result": None, "id": request_id}], body["method"] == "SUBSCRIBE", error)

    def round_messages(self, round_index: int) -> list[Message]:
        return [self.ROUNDS[round_index % len(self.ROUNDS)]]

    def top_of(self, message: Message) -> Top:
        return message["b"], message["B"], message["a"], message["A"]


class CoinbaseServer(ExchangeServer):
    """Coinbase Advanced Trade `ticker`: round 0 is nautilus_trader's
    crates/adapters/coinbase/test_data/ws_ticker.json, round 1 the ticker in ccxt's
    pro/coinbase.py handle_tickers docstring (with the best bid/ask fields added in 2024)."""

    exchange, symbol, route, url_path = "coinbase", "BTC/USD", "/", ""
    ROUNDS: ClassVar[list[Message]] = [
        {"channel": "ticker", "client_id": "", "timestamp": "2026-04-07T14:30:03.000000Z",
         "sequence_num": 12, "events": [{"type": "snapshot", "tickers": [
             {"type": "ticker", "product_id": "BTC-USD", "price": "68900.50",
              "volume_24_h": "15328.12345678", "low_24_h": "67500.00", "high_24_h": "69200.00",
              "low_52_w": "25000.00", "high_52_w": "73800.00", "price_percent_chg_24_h": "1.85",
              "best_bid": "68900.00", "best_bid_quantity": "1.50000000",
              "best_ask": "68901.00", "best_ask_quantity": "0.50000000"}]}]},
        {"channel": "ticker", "client_id": "", "timestamp": "2023-02-09T20:30:37.167359596Z",
         "sequence_num": 0, "events": [{"type": "snapshot", "tickers": [
             {"type": "ticker", "product_id": "BTC-USD", "price": "21932.98",
              "volume_24_h": "16038.28770938", "low_24_h": "21835.29", "high_24_h": "23011.18",
              "low_52_w": "15460", "high_52_w": "48240",
              "price_percent_chg_24_h": "-4.15775596190603", "best_bid": "21835.29",
              "best_bid_quantity": "0.02000000", "best_ask": "23011.18",
              "best_ask_quantity": "0.01500000"}]}]},
    ]  # fmt: skip

    def answer(self, text: str) -> Answer:
        body = orjson.loads(text)
        # layout of nautilus_trader's crates/adapters/coinbase/test_data/ws_subscriptions.json
        ack = {
            "channel": "subscriptions",
            "client_id": "",
            "timestamp": _iso_now(),
            "sequence_num": 0,
            "events": [{"subscriptions": {body["channel"]: body["product_ids"]}}],
        }
        return Answer([ack], body["type"] == "subscribe")

    def round_messages(self, round_index: int) -> list[Message]:
        return [self.ROUNDS[round_index % len(self.ROUNDS)]]

    def top_of(self, message: Message) -> Top:
        ticker = message["events"][0]["tickers"][0]
        fields = ("best_bid", "best_bid_quantity", "best_ask", "best_ask_quantity")
        bid, bid_size, ask, ask_size = (ticker[name] for name in fields)
        return bid, bid_size, ask, ask_size

    def stamp(self, message: Message, index: int) -> Message:
        message["timestamp"] = _iso_now()
        return message


class KrakenServer(ExchangeServer):
    """Kraken spot WebSocket v2 `ticker` (ccxt asks for event_trigger "bbo"): round 0 is
    nautilus_trader's crates/adapters/kraken/test_data/ws_ticker_snapshot.json, round 1 the
    snapshot in ccxt's pro/kraken.py handle_ticker docstring. Prices are JSON numbers there."""

    exchange, symbol, route, url_path = "kraken", "BTC/USD", "/v2", "/v2"
    ROUNDS: ClassVar[list[Message]] = [
        {"channel": "ticker", "type": "snapshot", "data": [
            {"symbol": "BTC/USD", "bid": 105944.20, "bid_qty": 2.5, "ask": 105944.30,
             "ask_qty": 3.2, "last": 105899.40, "volume": 163.28908096, "vwap": 105904.39279,
             "low": 104711.00, "high": 106613.10, "change": 250.00, "change_pct": 0.24,
             "timestamp": "2022-12-25T09:30:59.123456Z"}]},
        {"channel": "ticker", "type": "snapshot", "data": [
            {"symbol": "BTC/USD", "bid": 108359.8, "bid_qty": 0.01362603, "ask": 108359.9,
             "ask_qty": 17.17988863, "last": 108359.8, "volume": 2158.32346723, "vwap": 108894.5,
             "low": 106824, "high": 111300, "change": -2679.9, "change_pct": -2.41}]},
    ]  # fmt: skip

    def greeting(self) -> list[Message]:
        # the status message Kraken sends on connect (layout of Kraken's v2 "status" docs)
        status = {"api_version": "v2", "connection_id": 1, "system": "online", "version": "2.0.0"}
        return [{"channel": "status", "type": "update", "data": [status]}]

    def answer(self, text: str) -> Answer:
        body = orjson.loads(text)
        times = {"time_in": _iso_now(), "time_out": _iso_now()}
        if body["method"] == "ping":
            return Answer([{"method": "pong", "req_id": body.get("req_id"), **times}])
        params = body["params"]
        # layout of nautilus_trader's crates/adapters/kraken/test_data/ws_subscribe_response.json
        acks: list[Message | str] = [
            {"method": "subscribe", "result": {"channel": params["channel"], "symbol": symbol,
             "snapshot": True}, "success": True, "req_id": body["req_id"], **times}
            for symbol in params["symbol"]
        ]  # fmt: skip
        error = {"error": "Currency pair not supported", "method": "subscribe", "success": False,
                 "req_id": body["req_id"], **times}  # fmt: skip
        return Answer(acks, body["method"] == "subscribe", error)

    def round_messages(self, round_index: int) -> list[Message]:
        return [self.ROUNDS[round_index % len(self.ROUNDS)]]

    def top_of(self, message: Message) -> Top:
        data = message["data"][0]
        bid, bid_size, ask, ask_size = (data[k] for k in ("bid", "bid_qty", "ask", "ask_qty"))
        return str(bid), str(bid_size), str(ask), str(ask_size)

    def stamp(self, message: Message, index: int) -> Message:
        message["data"][0]["timestamp"] = _iso_now()
        return message


# usdtusd `diff_order_book` deltas recorded by cryptofeed on 2022-01-05 (bmoscon/cryptofeed
# sample_data/BITSTAMP.ws.1.0), in the order received: (microtimestamp, bids, asks)
BITSTAMP_DELTAS: list[tuple[str, list[list[str]], list[list[str]]]] = [
    ("1641343691591603", [], [["0.99991", "0.00000"]]),
    ("1641343691705619", [], [["0.99998", "3000.00000"]]),
    ("1641343691843553", [], [["0.99994", "14883.96385"]]),
    ("1641343691963989", [["0.99948", "0.00000"], ["0.99771", "0.00000"], ["0.99761", "0.00000"],
                          ["0.99522", "0.00000"], ["0.98452", "0.00000"]], []),
    ("1641343692077795", [["0.99948", "3105.20768"], ["0.99773", "58633.09713"],
                          ["0.99522", "50240.14790"], ["0.98452", "66529.87117"]], []),
    ("1641343692436345", [["0.99772", "0.00000"]], []),
    ("1641343692550058", [["0.99771", "5625.02452"]], []),
    ("1641343693473045", [["0.99771", "0.00000"]], []),
    ("1641343693705480", [["0.99774", "5624.85539"]], []),
    ("1641343694296542", [], [["0.99989", "0.00000"]]),
    ("1641343694413955", [], [["0.99993", "8122.14370"]]),
    ("1641343694870544", [], [["0.99988", "0.00000"]]),
    ("1641343694983497", [], [["0.99992", "5692.64822"]]),
    ("1641343696383222", [["0.99773", "0.00000"], ["0.99522", "0.00000"], ["0.98452", "0.00000"]],
     [["0.99994", "0.00000"], ["0.99998", "0.00000"]]),
    ("1641343696499389", [], [["0.99991", "21883.96385"]]),
]  # fmt: skip


def bitstamp_book(deltas: int) -> tuple[list[list[str]], list[list[str]]]:
    """Bids and asks, best first, after the first `deltas` recorded deltas from an empty book."""
    sides: tuple[dict[Decimal, list[str]], dict[Decimal, list[str]]] = ({}, {})
    for _, *levels in BITSTAMP_DELTAS[:deltas]:
        for side, changes in zip(sides, levels, strict=True):
            for price, size in changes:
                if Decimal(size) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = [price, size]
    bids, asks = sides
    return [bids[p] for p in sorted(bids, reverse=True)], [asks[p] for p in sorted(asks)]


class BitstampServer(ExchangeServer):
    """Bitstamp WebSocket v2 `diff_order_book_usdtusd` plus the REST `order_book` snapshot that
    ccxt fetches after 6 deltas (layout of cryptofeed's sample_data/BITSTAMP.http.0.0), built
    from the recorded deltas up to the one whose microtimestamp it names."""

    exchange, symbol, route, url_path = "bitstamp", "USDT/USD", "/", ""
    ROUNDS: ClassVar[list[tuple[int, int, int]]] = [(0, 9, 6), (7, 15, 13)]  # start, stop, snap

    def __init__(self) -> None:
        super().__init__()
        self._nonces: dict[int, str] = {}  # delta index -> microtimestamp it was sent with
        self._last_nonce = 0

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v2/order_book/{pair}/", self._snapshot)

    def expected_top(self, round_index: int) -> Top:
        bids, asks = bitstamp_book(self.ROUNDS[round_index % len(self.ROUNDS)][1])
        return bids[0][0], bids[0][1], asks[0][0], asks[0][1]

    def answer(self, text: str) -> Answer:
        body = orjson.loads(text)
        channel = body["data"]["channel"]
        ack = {"event": "bts:subscription_succeeded", "channel": channel, "data": {}}
        return Answer([ack], body["event"] == "bts:subscribe")

    def round_messages(self, round_index: int) -> list[Message]:
        start, stop, _ = self.ROUNDS[round_index % len(self.ROUNDS)]
        messages = []
        for index in range(start, stop):
            micros, bids, asks = BITSTAMP_DELTAS[index]
            data = {"timestamp": micros[:10], "microtimestamp": micros, "bids": bids, "asks": asks}
            messages.append({"data": data, "channel": "diff_order_book_usdtusd", "event": "data"})
        return messages

    def stamp(self, message: Message, index: int) -> Message:
        self._last_nonce = max(int(time.time() * 1_000_000), self._last_nonce + 1)
        nonce = str(self._last_nonce)
        message["data"].update(timestamp=nonce[:10], microtimestamp=nonce)
        start = self.ROUNDS[(self.rounds - 1) % len(self.ROUNDS)][0]
        self._nonces[start + index] = nonce
        return message

    async def _snapshot(self, request: web.Request) -> web.Response:
        snap_index = self.ROUNDS[(self.rounds - 1) % len(self.ROUNDS)][2]
        bids, asks = bitstamp_book(snap_index + 1)
        nonce = self._nonces.get(snap_index, BITSTAMP_DELTAS[snap_index][0])
        body = {"timestamp": nonce[:10], "microtimestamp": nonce, "bids": bids, "asks": asks}
        return web.json_response(body)


SERVERS: dict[str, type[ExchangeServer]] = {
    server.exchange: server
    for server in (OkxServer, BinanceServer, CoinbaseServer, KrakenServer, BitstampServer)
}

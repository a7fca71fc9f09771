"""OKX's public and private WebSockets: text ping/pong, login, subscriptions and pushes.

Public channels: tickers, mark-price, funding-rate, books5, bbo-tbt, and books (each push a
full snapshot with its checksum, which a client merges as a new book), pushed when the server
is told prices changed. Private channels after login: positions and account (on every change
and every `positions_push_seconds`, as OKX pushes both at a regular interval; positions with
their push time, pTime), orders, and balance_and_position. Faults: `ws_silent` sends nothing
at all, not even pong, while the socket stays open; `drop_all` closes every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from pegkeeper.domain.orderbook import checksum_string, signed_crc32
from pegkeeper.sim.events import OrderChanged, PositionChanged
from pegkeeper.sim.okx_server.auth import verify_ws_login
from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.envelope import Json, OkxError
from pegkeeper.sim.okx_server.render_account import (
    balance_json,
    order_json,
    position_json,
    positions_json,
)
from pegkeeper.sim.okx_server.render_market import (
    book_json,
    funding_rate_json,
    mark_price_json,
    ticker_json,
)

PUBLIC_CHANNELS = ("tickers", "mark-price", "funding-rate", "books5", "bbo-tbt", "books")
PRIVATE_CHANNELS = ("positions", "orders", "account", "balance_and_position")


class Connection:
    def __init__(self, ws: web.WebSocketResponse, private: bool, conn_id: str) -> None:
        self.ws = ws
        self.private = private
        self.conn_id = conn_id
        self.logged_in = False
        self.subscriptions: list[dict[str, str]] = []
        self.outbox: asyncio.Queue[str] = asyncio.Queue()

    def subscribed(self, channel: str) -> list[dict[str, str]]:
        return [arg for arg in self.subscriptions if arg.get("channel") == channel]


class WsHub:
    def __init__(self, ctx: SimContext, positions_push_seconds: float = 5.0) -> None:
        self._ctx = ctx
        self._positions_push_seconds = positions_push_seconds
        self._connections: set[Connection] = set()
        self._ids = itertools.count(1)
        self.connections_opened = 0
        ctx.engine.add_listener(self._on_position)
        ctx.engine.add_order_listener(self._on_order)
        self._chained_switch = ctx.faults.on_switch
        ctx.faults.on_switch = self._switched

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def handle(self, request: web.Request, private: bool) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        conn = Connection(ws, private, f"{next(self._ids):08x}")
        self._connections.add(conn)
        self.connections_opened += 1
        writer = asyncio.create_task(self._write(conn), name=f"okx-sim-ws-{conn.conn_id}")
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    self._receive(conn, message.data)
                elif message.type is WSMsgType.PING and not self._silent:
                    await ws.pong(message.data)
        finally:
            self._connections.discard(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    async def drop_all(self) -> int:
        """Closes every socket, as a network drop would; returns how many."""
        connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped")
        return len(connections)

    async def run_periodic(self) -> None:
        """Positions every `positions_push_seconds`; drops every `ws_drop_every_seconds`."""
        loop = asyncio.get_running_loop()
        next_push = next_drop = loop.time()
        while True:
            await asyncio.sleep(0.05)
            now = loop.time()
            if now >= next_push:
                next_push = now + self._positions_push_seconds
                self._push_positions(None)
                self._push_account(("account",))
            drop_every = self._ctx.faults.numbers["ws_drop_every_seconds"]
            if drop_every <= 0:
                next_drop = now
            elif now >= next_drop + drop_every:
                next_drop = now
                await self.drop_all()

    def _switched(self, name: str, on: bool) -> None:
        if self._chained_switch is not None:
            self._chained_switch(name, on)
        if name == "empty_positions":
            self._push_positions(None)  # as OKX pushes a position that changed

    def prices_changed(self) -> None:
        for conn in list(self._connections):
            for arg in conn.subscriptions:
                if arg.get("channel") not in PUBLIC_CHANNELS:
                    continue  # a private channel is not a market data one
                message = self._public_message(arg)
                if message is not None:
                    self._send(conn, message)

    # -- receiving -----------------------------------------------------------------------------

    @property
    def _silent(self) -> bool:
        return self._ctx.faults.on("ws_silent")

    def _receive(self, conn: Connection, text: str) -> None:
        if text == "ping":
            self._send(conn, "pong")
            return
        try:
            message = orjson.loads(text)
            op = message["op"]
            args = message.get("args") or []
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self._error(conn, OkxError("60012", f"Illegal request: {text[:200]}"))
            return
        if op == "login" and conn.private and args:
            self._login(conn, args[0])
        elif op in ("subscribe", "unsubscribe"):
            for arg in args:
                self._subscribe(conn, op, arg)
        else:
            self._error(conn, OkxError("60012", f"Illegal request: {text[:200]}"))

    def _login(self, conn: Connection, args: Any) -> None:
        try:
            verify_ws_login(self._ctx.credentials, args if isinstance(args, dict) else {})
        except OkxError as error:
            self._error(conn, error)
            return
        conn.logged_in = True
        self._send(conn, {"event": "login", "code": "0", "msg": "", "connId": conn.conn_id})

    def _subscribe(self, conn: Connection, op: str, arg: Any) -> None:
        channel = arg.get("channel") if isinstance(arg, dict) else None
        allowed = PRIVATE_CHANNELS if conn.private else PUBLIC_CHANNELS
        if channel not in allowed:
            self._error(conn, OkxError("60018", f"Wrong URL or channel:{channel} doesn't exist"))
            return
        if conn.private and not conn.logged_in:
            self._error(conn, OkxError("60011", "Please log in"))
            return
        clean = {str(k): str(v) for k, v in arg.items()}
        if op == "unsubscribe":
            conn.subscriptions = [a for a in conn.subscriptions if a != clean]
            self._send(conn, {"event": "unsubscribe", "arg": clean, "connId": conn.conn_id})
            return
        if clean not in conn.subscriptions:
            conn.subscriptions.append(clean)
        self._send(conn, {"event": "subscribe", "arg": clean, "connId": conn.conn_id})
        self._push_snapshot(conn, clean)

    # -- pushing -------------------------------------------------------------------------------

    def _push_snapshot(self, conn: Connection, arg: dict[str, str]) -> None:
        channel = arg["channel"]
        if channel in PUBLIC_CHANNELS:
            message = self._public_message(arg)
            if message is not None:
                self._send(conn, message)
            return
        if channel == "positions":
            data = self._positions_data(arg, None)
        elif channel in ("account", "balance_and_position"):
            data = [balance_json(self._ctx, [arg["ccy"]] if arg.get("ccy") else None)]
        else:
            data = None
        if data is not None:
            self._send(conn, {"arg": self._private_arg(conn, arg), "data": data})

    def _public_data(self, arg: dict[str, str]) -> list[Json] | None:
        ctx, inst_id = self._ctx, arg.get("instId", "")
        if inst_id not in ctx.engine.live_instrument_ids or ctx.engine.price_ms(inst_id) is None:
            return None
        channel = arg["channel"]
        if channel == "tickers":
            return [ticker_json(ctx, inst_id)]
        if channel == "mark-price":
            return [mark_price_json(ctx, inst_id)]
        if channel == "funding-rate":
            if not ctx.engine.instrument(inst_id).has_funding:
                return None
            return [funding_rate_json(ctx, inst_id)]
        if channel == "books":
            book = book_json(ctx.market(inst_id))
            bids = [(px, sz) for px, sz, *_ in book["bids"]]
            asks = [(px, sz) for px, sz, *_ in book["asks"]]
            return [book | {"checksum": signed_crc32(checksum_string(bids, asks))}]
        depth = 1 if channel == "bbo-tbt" else 5
        return [book_json(ctx.market(inst_id), depth) | {"instId": inst_id}]

    def _public_message(self, arg: dict[str, str]) -> Json | None:
        data = self._public_data(arg)
        if data is None:
            return None
        message: Json = {"arg": arg, "data": data}
        if arg["channel"] == "books":
            message["action"] = "snapshot"
        return message

    def _positions_data(self, arg: dict[str, str], changed: str | None) -> list[Json]:
        inst_id = arg.get("instId")
        ctx = self._ctx
        if ctx.faults.on("empty_positions"):
            return []
        push_time = {"pTime": str(ctx.now_ms())}
        if inst_id:
            if ctx.engine.mark_price_usd(inst_id) is None:
                return []
            return [_with_zero(positions_json(ctx, [inst_id]), ctx, inst_id) | push_time]
        found = [row | push_time for row in positions_json(ctx, None)]
        wanted_type = arg.get("instType", "ANY")
        if wanted_type != "ANY":
            found = [p for p in found if p["instType"] == wanted_type]
        if changed is not None and not any(p["instId"] == changed for p in found):
            found += [_with_zero([], ctx, changed) | push_time]
        return found

    def _push_positions(self, changed: str | None) -> None:
        for conn in list(self._connections):
            for arg in conn.subscribed("positions"):
                if changed is not None and arg.get("instId") not in (None, changed):
                    continue
                data = self._positions_data(arg, changed)
                self._send(conn, {"arg": self._private_arg(conn, arg), "data": data})

    def _on_position(self, event: PositionChanged) -> None:
        self._push_positions(event.instrument_id)
        self._push_account(("account", "balance_and_position"))

    def _push_account(self, channels: tuple[str, ...]) -> None:
        for conn in list(self._connections):
            for arg in [a for channel in channels for a in conn.subscribed(channel)]:
                data = [balance_json(self._ctx, [arg["ccy"]] if arg.get("ccy") else None)]
                self._send(conn, {"arg": self._private_arg(conn, arg), "data": data})

    def _on_order(self, event: OrderChanged) -> None:
        subscribers = [(c, a) for c in list(self._connections) for a in c.subscribed("orders")]
        if not subscribers:
            return
        order = self._ctx.engine.order_details(event.client_order_id)
        data = order_json(self._ctx, order) | {"execType": "T" if order.fills else ""}
        for conn, arg in subscribers:
            if arg.get("instId") in (None, event.instrument_id):
                self._send(conn, {"arg": self._private_arg(conn, arg), "data": [data]})

    def _private_arg(self, conn: Connection, arg: dict[str, str]) -> dict[str, str]:
        return arg | {"uid": self._ctx.uid} if conn.private else arg

    def _error(self, conn: Connection, error: OkxError) -> None:
        self._send(
            conn, {"event": "error", "code": error.code, "msg": error.msg, "connId": conn.conn_id}
        )

    def _send(self, conn: Connection, payload: Json | str) -> None:
        if self._silent or conn.ws.closed:
            return
        text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
        conn.outbox.put_nowait(text)

    async def _write(self, conn: Connection) -> None:
        while True:
            text = await conn.outbox.get()
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


def _with_zero(found: list[Json], ctx: SimContext, inst_id: str) -> Json:
    """The position of `inst_id`; a flat one is pushed with pos 0, as OKX does after a close."""
    return found[0] if found else position_json(ctx, inst_id)

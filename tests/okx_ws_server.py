"""A local WebSocket server that speaks OKX's v5 public protocol and replays recorded `books`
messages, with switches for the failures that happen in production."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from tests.shared_data import shared_data

PATH = "/ws/v5/public"
STABLESATS_NAMES = ("snapshot", "update-1", "update-2", "update-3")


def stablesats_messages() -> list[dict[str, Any]]:
    """The recorded BTC-USD-SWAP snapshot and updates 1-3, decoded."""
    okx = shared_data() / "okx"
    return [_load(okx / f"stablesats-books-{name}.json") for name in STABLESATS_NAMES]


def _load(path: Path) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(path.read_bytes())
    return message


def corrupted(message: dict[str, Any]) -> dict[str, Any]:
    """The same update with the size of its first non-deleting bid one contract larger."""
    copy: dict[str, Any] = orjson.loads(orjson.dumps(message))
    for level in copy["data"][0]["bids"]:
        if level[1] != "0":
            level[1] = str(int(level[1]) + 1)
            return copy
    raise ValueError("no bid level to corrupt")


@dataclass
class Subscribe:
    op: str
    at_seconds: float  # event loop time
    inst_ids: list[str]


@dataclass
class OkxWsServer:
    messages: list[dict[str, Any]]
    # switches
    drop_after: int | None = None  # abort the TCP connection after this many data messages, once
    silent_after: int | None = None  # after this many data messages in all, send nothing at all
    corrupt_rounds: int = 0  # the first N rounds send message 1 corrupted
    error_subscribes: int = 0  # answer the first N subscribe requests with an error event
    # what happened
    connections: int = 0
    requests: list[Subscribe] = field(default_factory=list)
    pings: int = 0
    sent: int = 0  # data messages sent, all connections
    rounds: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)

    @property
    def silent(self) -> bool:
        return self.silent_after is not None and self.sent >= self.silent_after

    def ops(self, op: str) -> list[Subscribe]:
        return [request for request in self.requests if request.op == op]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self.url = f"ws://127.0.0.1:{port}{PATH}"
        return self.url

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        self._sockets.add(ws)
        sent_here = [0]
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                if message.data == "ping":
                    self.pings += 1
                    if not self.silent:
                        await ws.send_str("pong")
                    continue
                await self._on_request(ws, request, orjson.loads(message.data), sent_here)
        finally:
            self._sockets.discard(ws)
        return ws

    async def _on_request(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        body: dict[str, Any],
        sent_here: list[int],
    ) -> None:
        op = body["op"]
        args = body["args"]
        loop = asyncio.get_running_loop()
        self.requests.append(Subscribe(op, loop.time(), [arg["instId"] for arg in args]))
        if self.silent:
            return
        if op == "subscribe" and len(self.ops("subscribe")) <= self.error_subscribes:
            error = {"event": "error", "code": "60012", "msg": "Invalid request", "connId": "t"}
            await ws.send_str(orjson.dumps(error).decode())
            return
        for arg in args:
            await ws.send_str(orjson.dumps({"event": op, "arg": arg, "connId": "t"}).decode())
        if op == "subscribe":
            await self._round(ws, request, sent_here)

    async def _round(
        self, ws: web.WebSocketResponse, request: web.Request, sent_here: list[int]
    ) -> None:
        self.rounds += 1
        for index, message in enumerate(self.messages):
            if self.silent:
                return
            if self.drop_after is not None and sent_here[0] >= self.drop_after:
                self.drop_after = None
                assert request.transport is not None
                request.transport.abort()
                return
            if index == 1 and self.rounds <= self.corrupt_rounds:
                message = corrupted(message)
            await ws.send_str(orjson.dumps(message).decode())
            sent_here[0] += 1
            self.sent += 1

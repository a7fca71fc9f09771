"""Recorded exchange traffic served on a local WebSocket, so that an exchange client (ccxt) runs
its own parsing on a capture file exactly as it does on the live feed."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from aiohttp import WSMsgType, web

from pegkeeper.adapters.feeds.capture import CapturedMessage, read_capture


class CaptureReplayServer:
    """Each connection gets the capture's messages in order, after its first request (the
    subscription), then silence: a finished capture looks like a feed that stopped. With
    `paced`, messages keep their recorded spacing where the capture has receive times."""

    def __init__(self, path: Path, *, paced: bool = False) -> None:
        self._messages: list[CapturedMessage] = list(read_capture(path))
        self._paced = paced
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.connections = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        await web.SockSite(self._runner, listener).start()
        self.url = f"ws://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        first = await ws.receive()
        if first.type is WSMsgType.TEXT:
            await self._play(ws)
            async for _ in ws:  # keep the socket open; later requests get no answer
                pass
        return ws

    async def _play(self, ws: web.WebSocketResponse) -> None:
        previous_ms: int | None = None
        for message in self._messages:
            if self._paced and message.receive_time_ms is not None and previous_ms is not None:
                await asyncio.sleep(max(0, message.receive_time_ms - previous_ms) / 1000)
            previous_ms = message.receive_time_ms
            await ws.send_str(message.raw.decode())

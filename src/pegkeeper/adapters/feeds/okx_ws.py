"""OKX v5 public WebSocket: subscribe, keep alive, reconnect. Raw frames out, no book logic.

Frames are yielded as `(receive_ms, raw_bytes)`, stamped with the injected Clock. The socket's
own timers (keepalive, pong timeout, backoff) run on the event loop's time: they guard a real
connection, whatever clock stamps the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog

from pegkeeper.ports import Clock

log = structlog.get_logger("pegkeeper.feeds.okx_ws")

DEFAULT_PUBLIC_URL = "wss://ws.okx.com:8443/ws/v5/public"
_EVENT_MAX_BYTES = 2048  # acks and errors are small; book pushes are not parsed here
_MIN_WAIT_SECONDS = 0.001  # aiohttp treats a receive timeout of 0 as "no timeout"
_ClientWebSocket = aiohttp.ClientWebSocketResponse[Any]


@dataclass(frozen=True, slots=True)
class OkxWebSocketSettings:
    url: str = DEFAULT_PUBLIC_URL
    inst_ids: tuple[str, ...] = ("BTC-USD-SWAP",)
    channel: str = "books"
    ping_after_seconds: float = 25.0  # OKX closes a connection silent for 30 s
    pong_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 10.0
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 30.0


def backoff_seconds(
    attempt: int, base_seconds: float, cap_seconds: float, rng: random.Random
) -> float:
    """Exponential backoff with "equal jitter": between half and all of
    min(cap, base * 2**attempt), so that clients that failed together spread out."""
    ceiling = min(cap_seconds, base_seconds * (1 << min(attempt, 32)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class ConnectionLost(Exception):
    pass


_RECOVERABLE = (aiohttp.ClientError, OSError, TimeoutError, ConnectionLost)


class OkxPublicWebSocket:
    """Counters: `connects`, `reconnects`, `subscribe_errors`, `resubscribes`, `pings_sent`,
    `pongs`, `frames` (frames yielded)."""

    def __init__(
        self,
        clock: Clock,
        settings: OkxWebSocketSettings | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._settings = settings or OkxWebSocketSettings()
        self._inst_ids = list(self._settings.inst_ids)
        self._rng = rng or random.Random()
        self._ws: _ClientWebSocket | None = None
        self._closing = asyncio.Event()
        self._reconnect_attempt = 0
        self._error_attempt = 0
        self._unconfirmed: set[str] = set()
        self._retry_subscribe_at: float | None = None
        self._last_frame_at = 0.0
        self._ping_sent_at: float | None = None
        self._logged_causes: set[str] = set()
        self.connects = 0
        self.reconnects = 0
        self.subscribe_errors = 0
        self.resubscribes = 0
        self.pings_sent = 0
        self.pongs = 0
        self.frames = 0

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    async def messages(self) -> AsyncGenerator[tuple[int, bytes], None]:
        """Every received frame but `pong`, across reconnections, until `close()`."""
        async with aiohttp.ClientSession() as session:
            while not self._closing.is_set():
                try:
                    async with contextlib.aclosing(self._connection(session)) as frames:
                        async for item in frames:
                            yield item
                except _RECOVERABLE as exc:
                    lost: BaseException = exc
                else:
                    lost = ConnectionLost("closed")
                if self._closing.is_set():
                    return
                await self._back_off(lost)

    async def resubscribe(self, inst_id: str) -> None:
        """Unsubscribe and subscribe again: OKX answers with a fresh snapshot."""
        if inst_id not in self._inst_ids:
            self._inst_ids.append(inst_id)
        self.resubscribes += 1
        ws = self._ws
        if ws is None or ws.closed:
            return  # the next connection subscribes to every instrument
        self._unconfirmed.add(inst_id)
        try:
            await self._send(ws, "unsubscribe", [inst_id])
            await self._send(ws, "subscribe", [inst_id])
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("okx resubscribe not sent", inst_id=inst_id, cause=repr(exc))

    async def close(self) -> None:
        self._closing.set()
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def _back_off(self, cause: BaseException) -> None:
        self.reconnects += 1
        settings = self._settings
        delay = backoff_seconds(
            self._reconnect_attempt,
            settings.backoff_base_seconds,
            settings.backoff_cap_seconds,
            self._rng,
        )
        self._reconnect_attempt += 1
        log.warning(
            "okx websocket lost",
            url=settings.url,
            cause=repr(cause),
            attempt=self._reconnect_attempt,
            retry_in_seconds=round(delay, 3),
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._closing.wait()

    async def _connection(
        self, session: aiohttp.ClientSession
    ) -> AsyncGenerator[tuple[int, bytes], None]:
        settings = self._settings
        async with asyncio.timeout(settings.connect_timeout_seconds):
            ws = await session.ws_connect(
                settings.url, autoping=True, heartbeat=None, decode_text=False
            )
        self._ws = ws
        try:
            self.connects += 1
            self._unconfirmed = set(self._inst_ids)
            self._retry_subscribe_at = None
            await self._send(ws, "subscribe", self._inst_ids)
            async for item in self._frames(ws):
                yield item
        finally:
            self._ws = None
            await ws.close()

    async def _frames(self, ws: _ClientWebSocket) -> AsyncGenerator[tuple[int, bytes], None]:
        loop = asyncio.get_running_loop()
        self._last_frame_at = loop.time()
        self._ping_sent_at = None
        while not self._closing.is_set():
            try:
                message = await ws.receive(timeout=self._wait_seconds(loop.time()))
            except TimeoutError:
                await self._on_timer(ws, loop.time())
                continue
            receive_ms = self._clock.now_ms()
            raw = self._payload(message, ws)
            if raw is None:
                continue
            self._last_frame_at = loop.time()
            self._ping_sent_at = None
            if raw == b"pong":
                self.pongs += 1
                continue
            self.frames += 1
            if len(raw) < _EVENT_MAX_BYTES and b'"event"' in raw:
                self._on_event(raw, loop.time())
            else:
                self._reconnect_attempt = 0  # data flows: the connection works
            yield receive_ms, raw

    def _payload(self, message: aiohttp.WSMessage, ws: _ClientWebSocket) -> bytes | None:
        kind = message.type
        if kind in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            data = message.data
            return data if isinstance(data, bytes) else str(data).encode()
        if kind is aiohttp.WSMsgType.ERROR:
            raise ConnectionLost(f"websocket error: {ws.exception()!r}")
        if kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            if self._closing.is_set():
                return None
            raise ConnectionLost(f"closed by peer (code {ws.close_code})")
        return None  # protocol pings and pongs, answered by aiohttp

    def _wait_seconds(self, now: float) -> float:
        settings = self._settings
        if self._ping_sent_at is not None:
            deadline = self._ping_sent_at + settings.pong_timeout_seconds
        else:
            deadline = self._last_frame_at + settings.ping_after_seconds
        if self._retry_subscribe_at is not None:
            deadline = min(deadline, self._retry_subscribe_at)
        return max(_MIN_WAIT_SECONDS, deadline - now)

    async def _on_timer(self, ws: _ClientWebSocket, now: float) -> None:
        settings = self._settings
        if self._retry_subscribe_at is not None and now >= self._retry_subscribe_at:
            self._retry_subscribe_at = None
            pending = [inst_id for inst_id in self._inst_ids if inst_id in self._unconfirmed]
            if pending:
                await self._send(ws, "subscribe", pending)
        if self._ping_sent_at is not None:
            if now >= self._ping_sent_at + settings.pong_timeout_seconds:
                raise ConnectionLost(f"no pong within {settings.pong_timeout_seconds} s")
        elif now >= self._last_frame_at + settings.ping_after_seconds:
            await ws.send_str("ping")
            self._ping_sent_at = now
            self.pings_sent += 1

    def _on_event(self, raw: bytes, now: float) -> None:
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("event")
        if kind == "subscribe":
            arg = event.get("arg")
            if isinstance(arg, dict):
                self._unconfirmed.discard(str(arg.get("instId", "")))
            if not self._unconfirmed:
                self._error_attempt = 0
                self._retry_subscribe_at = None
        elif kind == "error":
            self._on_error_event(event, now)
        elif kind == "notice":  # e.g. 64008: the connection closes soon for an upgrade
            log.warning("okx notice", code=event.get("code"), msg=event.get("msg"))

    def _on_error_event(self, event: dict[str, Any], now: float) -> None:
        self.subscribe_errors += 1
        settings = self._settings
        delay = backoff_seconds(
            self._error_attempt,
            settings.backoff_base_seconds,
            settings.backoff_cap_seconds,
            self._rng,
        )
        self._error_attempt += 1
        if self._retry_subscribe_at is None:
            self._retry_subscribe_at = now + delay
        cause = f"{event.get('code')}: {event.get('msg')}"
        if cause in self._logged_causes:
            log.debug("okx subscribe error again", cause=cause, count=self.subscribe_errors)
            return
        self._logged_causes.add(cause)
        log.warning(
            "okx subscribe error",
            cause=cause,
            pending=sorted(self._unconfirmed),
            retry_in_seconds=round(delay, 3),
        )

    async def _send(self, ws: _ClientWebSocket, op: str, inst_ids: Sequence[str]) -> None:
        channel = self._settings.channel
        args = [{"channel": channel, "instId": inst_id} for inst_id in inst_ids]
        await ws.send_str(orjson.dumps({"op": op, "args": args}).decode())

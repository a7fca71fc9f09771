"""Server-sent events for the live page: what happens on the bus (liability changes, hedge
decisions, order states, peg readings, operator actions), and a heartbeat each second with
the health of every service and source, so a page knows within seconds when something
stopped, and knows its own connection is alive.

Each stream starts with `retry:` (the browser reconnects after that many ms) and a `hello`
naming this server's boot id: a page that sees a new boot id knows the server restarted and
reloads its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from pegkeeper.domain.events import (
    TOPIC_DECISION,
    TOPIC_LIABILITY,
    TOPIC_OPERATOR,
    TOPIC_ORDER,
    TOPIC_PEG,
    TOPIC_POSITION,
    decode_event,
)
from pegkeeper.ports import Bus, Subscription

TOPICS = (
    TOPIC_LIABILITY,
    TOPIC_DECISION,
    TOPIC_ORDER,
    TOPIC_POSITION,
    TOPIC_OPERATOR,
    f"{TOPIC_PEG}.*",
)
RETRY_MS = 1_000
QUEUE_SIZE = 2_000  # a page that falls this far behind loses the oldest (it refetches anyway)


class EventStream:
    def __init__(
        self,
        bus: Bus,
        heartbeat: Callable[[], Awaitable[dict[str, Any]]],
        heartbeat_seconds: float,
        stopping: Callable[[], bool] = lambda: False,
        on_clients: Callable[[int], None] = lambda count: None,
    ) -> None:
        self._bus = bus
        self._heartbeat = heartbeat
        self._heartbeat_seconds = heartbeat_seconds
        self._stopping = stopping
        self._on_clients = on_clients
        self.boot_id = uuid.uuid4().hex
        self.clients = 0

    async def stream(self, request: Request | None = None) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(QUEUE_SIZE)
        # subscribed before the hello: nothing published after it is missed
        subscriptions = [self._bus.subscribe(topic) for topic in TOPICS]
        forwarders = [asyncio.create_task(_forward(s, queue)) for s in subscriptions]
        self._count(+1)
        try:
            hello = {"boot_id": self.boot_id, "heartbeat_ms": int(self._heartbeat_seconds * 1000)}
            yield f"retry: {RETRY_MS}\n".encode() + _frame("hello", hello)
            yield _frame("heartbeat", await self._heartbeat())
            next_beat = time.monotonic() + self._heartbeat_seconds
            while not self._stopping():
                if request is not None and await request.is_disconnected():
                    break
                wait = max(0.0, next_beat - time.monotonic())
                try:
                    async with asyncio.timeout(min(wait, 0.5)):
                        _, payload = await queue.get()
                except TimeoutError:
                    if time.monotonic() >= next_beat:
                        next_beat = time.monotonic() + self._heartbeat_seconds
                        yield _frame("heartbeat", await self._heartbeat())
                    continue
                yield _bus_frame(payload)
        finally:
            self._count(-1)
            for task in forwarders:
                task.cancel()
            for task in forwarders:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _count(self, change: int) -> None:
        self.clients += change
        self._on_clients(self.clients)


def events_router(stream: EventStream) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/events")
    async def events(request: Request) -> StreamingResponse:
        return StreamingResponse(
            stream.stream(request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


async def _forward(subscription: Subscription, queue: asyncio.Queue[tuple[str, bytes]]) -> None:
    try:
        async for message in subscription:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)
    finally:
        await subscription.close()


def _bus_frame(payload: bytes) -> bytes:
    event = decode_event(payload)
    body = msgspec.to_builtins(event)
    name = body.pop("type", "message")
    return _frame(str(name), body)


def _frame(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

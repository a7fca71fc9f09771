"""The subscriptions of the Redis Streams bus: broadcast (XREAD from the moment of subscribing)
and group (XREADGROUP, XACK, XAUTOCLAIM).

A subscription reads every stream whose topic matches its pattern, finding the topics that
appear later in the set "<prefix>:topics" (checked every `discover_seconds` and whenever a
blocking read times out). It does not end when Redis goes away: it retries with a capped
backoff, logs one warning per outage and one line when it reads again, and a group recreates
itself on the streams a restarted Redis lost. Order is kept per topic; the messages of one read
are handed out by stream id, which is Redis's clock, across topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import KeyT, StreamIdT

from pegkeeper.adapters.tracing import consumer_span

log = structlog.get_logger("pegkeeper.bus.redis")

PAYLOAD_FIELD = b"p"
# the publisher's trace context (W3C headers), present only while tracing is on
TRACE_FIELDS = {b"tp": "traceparent", b"ts": "tracestate"}
MAX_SEQUENCE = 2**64 - 1  # the largest sequence part of a stream id
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
_PATTERN_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class StreamSpace:
    """Where the bus keeps its things in Redis: a stream per topic, the set of topics, and the
    moment each consumer group was first created."""

    prefix: str

    def key(self, topic: str) -> str:
        return f"{self.prefix}:{topic}"

    def topic(self, key: str) -> str:
        return key[len(self.prefix) + 1 :]

    @property
    def topics_key(self) -> str:
        return f"{self.prefix}:topics"

    @property
    def groups_key(self) -> str:
        return f"{self.prefix}:groups"


@dataclass(frozen=True, slots=True)
class ReadSettings:
    block_ms: int = 1000  # one blocking read; below the client's socket timeout
    count: int = 64  # entries per stream and read
    discover_seconds: float = 1.0
    backoff_base_seconds: float = 0.05
    backoff_cap_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class Connection:
    """What every subscription of one bus shares."""

    client: Redis
    space: StreamSpace
    shown_url: str  # the Redis URL without its password, for log lines
    read: ReadSettings


def start_id(start_ms: int) -> str:
    """The id just before every entry stamped `start_ms` or later: reading after it starts
    there."""
    return f"{start_ms - 1}-{MAX_SEQUENCE}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class _Subscription:
    """The loop shared by both kinds: fill a buffer from Redis, hand it out one message at a
    time, and outlast outages. One `async for` at a time per subscription."""

    def __init__(self, connection: Connection, pattern: str, start_ms: int) -> None:
        self._redis = connection.client
        self._space = connection.space
        self._shown_url = connection.shown_url
        self._read = connection.read
        self.pattern = pattern
        self._start_id = start_id(start_ms)
        self._literal = not (_PATTERN_CHARS & set(pattern))
        self._streams: list[str] = []  # keys being read
        # key, id, payload, the publisher's trace headers
        self._buffer: deque[tuple[str, str, bytes | None, dict[str, str]]] = deque()
        self._closed = False
        self._failures = 0  # consecutive failed attempts; 0 while Redis answers
        self._next_discovery_at = 0.0

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> tuple[str, bytes]:
        self._handled_previous()
        while not self._closed:
            item = self._next_buffered()
            if item is not None:
                return item
            try:
                await self._fill()
            except UNREACHABLE as exc:
                await self._back_off(exc)
                continue
            except ResponseError as exc:
                if not self._recoverable(exc):
                    raise
            self._reading_again()
        raise StopAsyncIteration

    async def close(self) -> None:
        self._closed = True

    def _handled_previous(self) -> None:
        """The consumer asked for the next message: the previous one is handled."""

    def _next_buffered(self) -> tuple[str, bytes] | None:
        while self._buffer:
            key, entry_id, payload, headers = self._buffer.popleft()
            self._taken(key, entry_id)
            if payload is not None:
                topic = self._space.topic(key)
                if headers:
                    with consumer_span(topic, headers):
                        pass  # the trace crosses the bus: received here, in this process
                return topic, payload
            self._handled_previous()  # an entry trimmed away before it was read
        return None

    def _taken(self, key: str, entry_id: str) -> None:
        """The entry is handed to the consumer."""

    async def _fill(self) -> None:
        raise NotImplementedError

    def _recoverable(self, error: ResponseError) -> bool:
        """Whether the next read can repair what `error` says (it then does)."""
        return False

    def _lost_connection(self) -> None:
        """Called before each retry."""

    def _buffer_entries(self, reply: Any) -> int:
        """Adds an XREAD / XREADGROUP / XAUTOCLAIM reply's entries, ordered by id; returns how
        many."""
        entries = [
            (
                _text(key),
                _text(entry_id),
                (fields or {}).get(PAYLOAD_FIELD),
                _trace_headers(fields or {}),
            )
            for key, stream_entries in (reply or [])
            for entry_id, fields in stream_entries
            if entry_id is not None
        ]
        entries.sort(key=lambda entry: _id_order(entry[1]))
        self._buffer.extend(entries)
        return len(entries)

    async def _discover(self) -> list[str]:
        """Keys of the topics matching the pattern not read yet."""
        self._next_discovery_at = time.monotonic() + self._read.discover_seconds
        if self._literal:
            topics: Iterable[str] = [self.pattern]
        else:
            members = await self._redis.smembers(self._space.topics_key)
            topics = (_text(m) for m in members)
        known = set(self._streams)
        return [
            key
            for key in sorted({self._space.key(t) for t in topics if fnmatchcase(t, self.pattern)})
            if key not in known
        ]

    def _discovery_due(self) -> bool:
        return time.monotonic() >= self._next_discovery_at

    async def _wait_for_streams(self) -> None:
        """No topic matches yet: look again after a while."""
        await asyncio.sleep(self._read.discover_seconds)
        self._next_discovery_at = 0.0

    async def _back_off(self, error: BaseException) -> None:
        if self._failures == 0:
            log.warning(
                "redis bus unreachable; the subscription retries",
                url=self._shown_url,
                pattern=self.pattern,
                cause=type(error).__name__,
            )
        read = self._read
        delay = min(
            read.backoff_cap_seconds, read.backoff_base_seconds * 2 ** min(self._failures, 16)
        )
        self._failures += 1
        self._lost_connection()
        await asyncio.sleep(delay)

    def _reading_again(self) -> None:
        if self._failures:
            log.info(
                "redis bus reachable again",
                url=self._shown_url,
                pattern=self.pattern,
                attempts=self._failures,
            )
            self._failures = 0


class BroadcastSubscription(_Subscription):
    """Every message on a matching topic from the moment of subscribing (XREAD, no group)."""

    def __init__(self, connection: Connection, pattern: str, start_ms: int) -> None:
        super().__init__(connection, pattern, start_ms)
        self._last_ids: dict[str, str] = {}

    def _taken(self, key: str, entry_id: str) -> None:
        self._last_ids[key] = entry_id

    async def _fill(self) -> None:
        if self._discovery_due():
            for key in await self._discover():
                self._streams.append(key)
                self._last_ids[key] = self._start_id
        if not self._streams:
            await self._wait_for_streams()
            return
        after: dict[KeyT, StreamIdT] = {key: self._last_ids[key] for key in self._streams}
        reply = await self._redis.xread(after, count=self._read.count, block=self._read.block_ms)
        if not reply:
            self._next_discovery_at = 0.0
        self._buffer_entries(reply)


class GroupSubscription(_Subscription):
    """Shares the messages of matching topics with the other consumers of `group`: each entry
    goes to one of them and is acknowledged once handled, that is when its consumer asks for
    the next one, or closes the subscription other than by being cancelled. Entries a dead
    consumer left pending are claimed after `claim_idle_seconds`."""

    def __init__(
        self,
        connection: Connection,
        pattern: str,
        start_ms: int,
        *,
        group: str,
        claim_idle_seconds: float,
    ) -> None:
        super().__init__(connection, pattern, start_ms)
        self.group = group
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self._start_ms = start_ms
        self._group_start_id: str | None = None  # when the group was first created
        self._claim_idle_ms = max(1, round(claim_idle_seconds * 1000))
        self._claim_every_seconds = min(max(claim_idle_seconds / 2, 0.05), 5.0)
        self._next_claim_at = 0.0
        self._in_hand: tuple[str, str] | None = None  # handed out, not yet handled
        self._handled: list[tuple[str, str]] = []  # handled, not yet acknowledged
        self._own_pending_first = True  # re-read what this consumer holds before new entries
        self._group_lost = False
        self.claimed = 0  # entries taken over from other consumers

    async def close(self) -> None:
        """Acknowledges the message in hand unless the closing task is being cancelled, which
        means its handling was cut short: it stays pending, for another consumer to claim."""
        self._closed = True
        task = asyncio.current_task()
        if self._in_hand is not None and not (task is not None and task.cancelling()):
            self._handled.append(self._in_hand)
        self._in_hand = None
        # unacknowledged, they stay pending: another consumer claims them (a duplicate, no loss)
        with contextlib.suppress(*UNREACHABLE):
            await self._acknowledge()

    def _handled_previous(self) -> None:
        if self._in_hand is not None:
            self._handled.append(self._in_hand)
            self._in_hand = None

    def _taken(self, key: str, entry_id: str) -> None:
        self._in_hand = (key, entry_id)

    def _lost_connection(self) -> None:
        # what was read but not handed out is re-read from this consumer's pending entries
        self._buffer.clear()
        self._own_pending_first = True

    async def _fill(self) -> None:
        if self._group_lost:
            await self._recreate_group()
        await self._acknowledge()
        if self._discovery_due():
            await self._join_new_streams()
        if not self._streams:
            await self._wait_for_streams()
            return
        if self._own_pending_first:
            self._own_pending_first = await self._read_group("0") > 0
            return
        if time.monotonic() >= self._next_claim_at and await self._claim() > 0:
            return
        if await self._read_group(">", block_ms=self._block_ms()) == 0:
            self._next_discovery_at = 0.0

    def _block_ms(self) -> int:
        wait_seconds = min(self._read.block_ms / 1000, self._claim_every_seconds)
        return max(1, round(wait_seconds * 1000))  # 0 would block forever

    async def _read_group(self, after: str, *, block_ms: int | None = None) -> int:
        reply = await self._redis.xreadgroup(
            self.group,
            self.consumer,
            dict.fromkeys(self._streams, after),
            count=self._read.count,
            block=block_ms,
        )
        return self._buffer_entries(reply)

    async def _claim(self) -> int:
        self._next_claim_at = time.monotonic() + self._claim_every_seconds
        claimed = 0
        for key in self._streams:
            _, entries, *_ = await self._redis.xautoclaim(
                key, self.group, self.consumer, self._claim_idle_ms, count=self._read.count
            )
            claimed += self._buffer_entries([(key, entries)])
        self.claimed += claimed
        return claimed

    async def _acknowledge(self) -> None:
        if not self._handled:
            return
        by_key: dict[str, list[str]] = {}
        for key, entry_id in self._handled:
            by_key.setdefault(key, []).append(entry_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, ids in by_key.items():
                pipe.xack(key, self.group, *ids)
            await pipe.execute(raise_on_error=False)  # NOGROUP: nothing left to acknowledge
        self._handled.clear()

    async def _join_new_streams(self) -> None:
        new_keys = await self._discover()
        if not new_keys:
            return
        start = await self._group_start()
        for key in new_keys:
            await self._create_group(key, start)
            self._streams.append(key)

    async def _group_start(self) -> str:
        """The group reads every stream from the moment it was first created, so a topic that
        appears later (or while no consumer runs) loses nothing."""
        if self._group_start_id is None:
            groups_key = self._space.groups_key
            await self._redis.hsetnx(groups_key, self.group, str(self._start_ms))
            stored = await self._redis.hget(groups_key, self.group)
            self._group_start_id = start_id(int(stored or self._start_ms))
        return self._group_start_id

    async def _create_group(self, key: str, first_id: str) -> None:
        try:
            await self._redis.xgroup_create(key, self.group, id=first_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _recoverable(self, error: ResponseError) -> bool:
        """NOGROUP: Redis lost the group (a restart that kept nothing); the next read creates
        it again."""
        if "NOGROUP" not in str(error):
            return False
        self._group_lost = True
        return True

    async def _recreate_group(self) -> None:
        """From the start of each stream: every entry a stream holds came after the loss."""
        log.warning("redis bus group recreated", url=self._shown_url, group=self.group)
        for key in self._streams:
            await self._create_group(key, "0")
        self._handled.clear()  # their entries went with the old group
        self._own_pending_first = True
        self._group_lost = False


def _trace_headers(fields: dict[bytes, bytes]) -> dict[str, str]:
    return {name: _text(fields[key]) for key, name in TRACE_FIELDS.items() if key in fields}

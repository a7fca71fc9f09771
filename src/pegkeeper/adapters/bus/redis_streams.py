"""The bus on Redis Streams (redis-py asyncio), for pegkeeper on several processes.

A stream per topic, "<prefix>:<topic>", trimmed to about `stream_maxlen` entries; the payload
is the entry's one field. Every topic published is also put in the set "<prefix>:topics", where
pattern subscribers find streams that appear after them (subscriptions: redis_reading.py).

Publishing to an unreachable Redis raises BusUnavailable at once: the caller decides whether to
retry (money events reach the bus through the outbox, so nothing is lost). The Redis URL may
carry a password: it is never logged nor put in a message.
"""

from __future__ import annotations

import time
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from pegkeeper.adapters.bus.redis_reading import (
    PAYLOAD_FIELD,
    TRACE_FIELDS,
    UNREACHABLE,
    BroadcastSubscription,
    Connection,
    GroupSubscription,
    ReadSettings,
    StreamSpace,
)
from pegkeeper.adapters.tracing import current_trace_headers
from pegkeeper.domain.errors import BusUnavailable

HIDDEN = "***"
# A topic is put in the topic set again after this long: a restarted Redis that lost the set
# learns it back without anyone noticing the restart.
TOPIC_REFRESH_SECONDS = 10.0
CLOCK_SAMPLES = 3  # the one with the shortest round trip is kept


def shown_redis_url(url: str) -> str:
    """`url` fit for logs and messages: its password and query (which may carry one) hidden."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{url.partition(':')[0]}://{HIDDEN}"
    host = f"[{host}]" if ":" in host else host
    netloc = host + (f":{port}" if port else "")
    if parts.password is not None:
        netloc = f"{parts.username or ''}:{HIDDEN}@{netloc}"
    elif parts.username:
        netloc = f"{parts.username}@{netloc}"
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{HIDDEN}" if parts.query else "")


class RedisStreamsBus:
    """The Bus port on Redis Streams. `published` counts messages by topic family, as
    MemoryBus's does."""

    def __init__(
        self,
        client: Redis,
        *,
        redis_url: str,
        stream_prefix: str = "pegkeeper",
        stream_maxlen: int = 100_000,
        claim_idle_seconds: float = 30.0,
        read: ReadSettings | None = None,
    ) -> None:
        self._client = client
        self._space = StreamSpace(stream_prefix)
        self._stream_maxlen = stream_maxlen
        self._claim_idle_seconds = claim_idle_seconds
        self._password = urlsplit(redis_url).password or ""
        self.shown_url = shown_redis_url(redis_url)
        self._connection = Connection(client, self._space, self.shown_url, read or ReadSettings())
        self._topics_sent_at: dict[str, float] = {}  # topic -> monotonic time of its SADD
        self._clock_offset_ms = 0  # Redis's clock minus this process's, measured by `check`
        self.published: dict[str, int] = {}  # messages by topic family ("bbo", "liability")

    async def check(self) -> None:
        """Raises BusUnavailable, naming Redis by its URL, when it cannot be reached. Also
        measures Redis's clock against this process's, which `subscribe` starts from."""
        try:
            await self._client.ping()  # connected first: a slow connect would skew the clock
            samples = [await self._clock_sample() for _ in range(CLOCK_SAMPLES)]
        except UNREACHABLE as exc:
            raise self._unavailable(exc, "answer") from None
        self._clock_offset_ms = min(samples)[1]

    async def _clock_sample(self) -> tuple[int, int]:
        """(round trip, offset) in ms. Redis read its clock between sending and answering:
        taking the answer's arrival makes the offset as low as it can be, so a subscription
        starts early (a message before it may come) rather than late (one after it lost)."""
        sent_ms = time.time_ns() // 1_000_000
        seconds, microseconds = await self._client.time()
        answered_ms = time.time_ns() // 1_000_000
        redis_ms = seconds * 1000 + microseconds // 1000
        return answered_ms - sent_ms, redis_ms - answered_ms

    async def publish(self, topic: str, payload: bytes) -> None:
        try:
            await self._append(topic, payload)
        except UNREACHABLE as exc:
            self._topics_sent_at.clear()  # Redis may come back without them
            raise self._unavailable(exc, f"take a message on {topic!r}") from None
        family = topic.partition(".")[0]
        self.published[family] = self.published.get(family, 0) + 1

    def subscribe(
        self, pattern: str, *, group: str | None = None
    ) -> BroadcastSubscription | GroupSubscription:
        """From now on by Redis's clock (measured by `check`): a message published up to one
        round trip before may come too, none after is missed."""
        start_ms = time.time_ns() // 1_000_000 + self._clock_offset_ms
        if group is None:
            return BroadcastSubscription(self._connection, pattern, start_ms)
        return GroupSubscription(
            self._connection,
            pattern,
            start_ms,
            group=group,
            claim_idle_seconds=self._claim_idle_seconds,
        )

    async def latest(self, topic: str) -> bytes | None:
        try:
            entries = await self._client.xrevrange(self._space.key(topic), count=1)
        except UNREACHABLE as exc:
            raise self._unavailable(exc, f"read the latest message on {topic!r}") from None
        for _, fields in entries or []:
            payload = (fields or {}).get(PAYLOAD_FIELD)
            return payload if isinstance(payload, bytes) else None
        return None

    async def close(self) -> None:
        await self._client.aclose()

    async def _append(self, topic: str, payload: bytes) -> None:
        key = self._space.key(topic)
        fields: dict[FieldT, EncodableT] = {PAYLOAD_FIELD: payload, **_trace_fields()}
        now = time.monotonic()
        sent_at = self._topics_sent_at.get(topic)
        if sent_at is not None and now - sent_at < TOPIC_REFRESH_SECONDS:
            await self._client.xadd(key, fields, maxlen=self._stream_maxlen, approximate=True)
            return
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields, maxlen=self._stream_maxlen, approximate=True)
            pipe.sadd(self._space.topics_key, topic)
            await pipe.execute()
        self._topics_sent_at[topic] = now

    def _unavailable(self, error: BaseException, what: str) -> BusUnavailable:
        cause = f"{type(error).__name__}: {error}"
        for secret in {self._password, unquote(self._password)} - {""}:
            cause = cause.replace(secret, HIDDEN)
        return BusUnavailable(f"the bus's Redis at {self.shown_url} did not {what} ({cause})")


def _trace_fields() -> dict[FieldT, EncodableT]:
    """The current span's W3C headers, for the consumer's span to join (none: tracing off)."""
    headers = current_trace_headers()
    return {key: headers[name].encode() for key, name in TRACE_FIELDS.items() if name in headers}

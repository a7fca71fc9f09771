"""The bus `[bus] kind` names: in memory (one process) or on Redis Streams (several)."""

from __future__ import annotations

from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.bus.redis_streams import RedisStreamsBus
from pegkeeper.ports import Bus

# One blocking read lasts a second (ReadSettings.block_ms): a socket silent for longer is lost.
SOCKET_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2.0


class BusSection(Protocol):
    """What of config.cluster.BusSettings the factory reads (adapters do not import config:
    the layers allow only the other way)."""

    @property
    def kind(self) -> str: ...
    @property
    def redis_url(self) -> str: ...
    @property
    def stream_prefix(self) -> str: ...
    @property
    def stream_maxlen(self) -> int: ...
    @property
    def claim_idle_seconds(self) -> float: ...


class ClosableBus(Bus, Protocol):
    published: dict[str, int]  # messages published by this process, by topic family

    async def close(self) -> None: ...


async def open_bus(settings: BusSection) -> ClosableBus:
    """The bus, ready: raises BusUnavailable (naming the Redis URL, its password hidden) when
    `kind` is "redis" and Redis cannot be reached. Close it when done."""
    if settings.kind == "memory":
        return MemoryBus()
    if settings.kind != "redis":
        raise ValueError(f"[bus] kind {settings.kind!r}: expected 'memory' or 'redis'")
    bus = RedisStreamsBus(
        redis_client(settings.redis_url),
        redis_url=settings.redis_url,
        stream_prefix=settings.stream_prefix,
        stream_maxlen=settings.stream_maxlen,
        claim_idle_seconds=settings.claim_idle_seconds,
    )
    try:
        await bus.check()
    except BaseException:
        await bus.close()
        raise
    return bus


def redis_client(url: str) -> Redis:
    """A client that fails fast: one retry (a pooled connection the server closed), no more;
    the subscriptions do their own retrying and publishers decide theirs."""
    return Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 1),
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
    )

"""Redis for the bus tests: the server on 127.0.0.1:6379, each test under its own stream prefix
(its keys deleted afterwards); and, for restarts, a redis-server of the test's own on a free
port that keeps nothing on disk.

When Redis cannot be reached the cases are skipped, or fail when CI is "true".
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from pegkeeper.adapters.bus.factory import redis_client
from pegkeeper.adapters.bus.redis_reading import UNREACHABLE, ReadSettings
from pegkeeper.adapters.bus.redis_streams import RedisStreamsBus

REDIS_URL = "redis://127.0.0.1:6379/0"
# short waits, so that discovery, claims and retries happen within a test's few seconds
FAST_READS = ReadSettings(
    block_ms=100, discover_seconds=0.1, backoff_base_seconds=0.02, backoff_cap_seconds=0.3
)


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true requires it")
    pytest.skip(message)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = redis_client(REDIS_URL)
    try:
        await client.ping()
    except UNREACHABLE as exc:
        await client.aclose()
        _unavailable(f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}: {exc})")
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def stream_prefix(redis: Redis) -> AsyncIterator[str]:
    prefix = f"pegkeeper-test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await redis.delete(*keys)


BusFactory = Callable[..., RedisStreamsBus]


@pytest.fixture
async def make_bus(stream_prefix: str) -> AsyncIterator[BusFactory]:
    """Buses on the test's prefix, each with its own client, closed afterwards."""
    opened: list[RedisStreamsBus] = []

    def make(**overrides: object) -> RedisStreamsBus:
        options: dict[str, object] = {
            "redis_url": REDIS_URL,
            "stream_prefix": stream_prefix,
            "read": FAST_READS,
        }
        options.update(overrides)
        url = str(options["redis_url"])
        bus = RedisStreamsBus(redis_client(url), **options)  # type: ignore[arg-type]
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        await bus.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server of the test's own: `stop()` kills it (SIGKILL), `start()` starts it again
    on the same port, empty."""

    port: int
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        _unavailable("redis-server is not installed")
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()

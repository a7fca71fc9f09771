"""Choosing the bus from `[bus]`, and the Redis URL as logs show it."""

from __future__ import annotations

import pytest

from pegkeeper.adapters.bus.factory import open_bus
from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.bus.redis_streams import shown_redis_url
from pegkeeper.config.cluster import BusSettings


async def test_memory_is_the_default() -> None:
    bus = await open_bus(BusSettings())
    assert isinstance(bus, MemoryBus)
    await bus.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw@h:1/2", "redis://:***@h:1/2"),
        ("rediss://user:p%40ss@h/0", "rediss://user:***@h/0"),
        ("redis://h/0?password=pw", "redis://h/0?***"),
        ("unix:///run/redis.sock?password=pw", "unix:///run/redis.sock?***"),
        ("redis://:pw@[::1]:6379/0", "redis://:***@[::1]:6379/0"),
        ("redis://:pw@h:notaport/0", "redis://***"),
    ],
)
def test_shown_url_hides_the_password(url: str, shown: str) -> None:
    assert shown_redis_url(url) == shown

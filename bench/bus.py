"""The Redis Streams bus across processes: one publisher task in this process, one consumer in
another (`python -m bench.bus consume ...`), N messages of about 200 bytes published back to
back, for a broadcast subscription (XREAD) and for a group member (XREADGROUP, XACK).

Each payload carries its send time on CLOCK_MONOTONIC (`time.monotonic_ns`), which on Linux is
one clock for the whole system, so the consumer's receive time minus it is the publish-to-
consume latency across the two processes. Messages per second: N over the time from the first
publish to the last receive. Needs Redis (BENCH_REDIS_URL, default 127.0.0.1:6379).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import struct
import subprocess
import sys
import time
from typing import Any

from pegkeeper.adapters.bus.factory import redis_client
from pegkeeper.adapters.bus.redis_streams import RedisStreamsBus

MESSAGES = int(os.environ.get("BENCH_BUS_MESSAGES", "20000"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PAYLOAD_BYTES = 200
CONSUMER_DEADLINE_SECONDS = 300.0
TOPIC = "bbo.bench.BTC.USD"
_HEADER = struct.Struct("<qq")  # send time (monotonic ns), sequence number


def _bus(prefix: str) -> RedisStreamsBus:
    return RedisStreamsBus(
        redis_client(REDIS_URL), redis_url=REDIS_URL, stream_prefix=prefix, stream_maxlen=MESSAGES
    )


def _percentile_ms(values_ns: list[int], pct: float) -> float:
    ordered = sorted(values_ns)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index] / 1e6


async def _consume(prefix: str, count: int, group: str | None) -> dict[str, Any]:
    bus = _bus(prefix)
    await bus.check()
    subscription = bus.subscribe("bbo.*", group=group)
    print("ready", flush=True)  # the publisher starts now: every message is after subscribing
    latencies_ns: list[int] = []
    sequences: set[int] = set()
    last_received_ns = time.monotonic_ns()

    async def receive() -> None:
        nonlocal last_received_ns
        async for _, payload in subscription:
            last_received_ns = time.monotonic_ns()
            sent_ns, sequence = _HEADER.unpack_from(payload)
            latencies_ns.append(last_received_ns - sent_ns)
            sequences.add(sequence)
            if len(latencies_ns) == count:
                return

    with contextlib.suppress(TimeoutError):  # what did not come is reported as missing
        await asyncio.wait_for(receive(), CONSUMER_DEADLINE_SECONDS)
    await subscription.close()
    await bus.close()
    return {
        "received": len(latencies_ns),
        "distinct": len(sequences - {-1}),
        "last_received_ns": last_received_ns,
        "p50_ms": _percentile_ms(latencies_ns, 50),
        "p99_ms": _percentile_ms(latencies_ns, 99),
        "max_ms": max(latencies_ns) / 1e6,
    }


async def _publish(prefix: str, count: int) -> int:
    """Publishes `count` messages; returns the monotonic ns of the first."""
    bus = _bus(prefix)
    padding = b"x" * (PAYLOAD_BYTES - _HEADER.size)
    first_ns = time.monotonic_ns()
    for sequence in range(count):
        await bus.publish(TOPIC, _HEADER.pack(time.monotonic_ns(), sequence) + padding)
    await bus.close()
    return first_ns


async def _delete(prefix: str) -> None:
    client = redis_client(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _announce(prefix: str) -> None:
    """One message before the consumer starts, so that it finds the topic at once (as a
    service finds the topics of a running system) and it measures no discovery wait."""
    bus = _bus(prefix)
    await bus.publish(TOPIC, _HEADER.pack(0, -1))
    await bus.close()


def _one(mode: str, group: str | None) -> dict[str, object]:
    prefix = f"pegkeeper-bench-{secrets.token_hex(4)}"
    asyncio.run(_announce(prefix))
    command = [sys.executable, "-m", "bench.bus", "consume", prefix, str(MESSAGES)]
    consumer = subprocess.Popen(
        [*command, group] if group else command, stdout=subprocess.PIPE, text=True
    )
    try:
        assert consumer.stdout is not None
        if consumer.stdout.readline().strip() != "ready":
            raise RuntimeError("the consumer process did not start")
        first_ns = asyncio.run(_publish(prefix, MESSAGES))
        lines = (line for line in consumer.stdout if line.startswith("{"))  # not log lines
        result = json.loads(next(lines))
        consumer.wait(timeout=60)
    finally:
        if consumer.poll() is None:
            consumer.kill()
        asyncio.run(_delete(prefix))
    seconds = (result["last_received_ns"] - first_ns) / 1e9
    return {
        "subscription": mode,
        "messages": result["received"],
        "missing": MESSAGES - result["distinct"],
        "messages/s": f"{result['received'] / seconds:,.0f}",
        "p50 ms": f"{result['p50_ms']:.2f}",
        "p99 ms": f"{result['p99_ms']:.2f}",
        "max ms": f"{result['max_ms']:.2f}",
    }


def run() -> dict[str, object]:
    """The broadcast subscription's row (see `rows` for the group's too)."""
    return _one("broadcast (XREAD)", None)


def rows() -> list[dict[str, object]]:
    return [run(), _one("group member (XREADGROUP, XACK)", "bench")]


if __name__ == "__main__":
    if sys.argv[1:2] == ["consume"]:
        prefix, count = sys.argv[2], int(sys.argv[3])
        group = sys.argv[4] if len(sys.argv) > 4 else None
        print(json.dumps(asyncio.run(_consume(prefix, count, group))), flush=True)
    else:
        for row in rows():
            print(row)

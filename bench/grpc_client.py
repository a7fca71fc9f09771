"""The load generator of the gRPC benchmark, in its own process: prints one JSON line.

`--inflight N`: N calls always in flight for `--seconds`; `--rate R`: R calls per second on a
fixed schedule, latency counted from each call's scheduled time (a late start counts).
`--channels C`: the calls spread over C connections (replicas sharing a port by SO_REUSEPORT
are chosen per connection); `--start-at T`: the measurement starts at wall-clock time T, so
that several client processes measure the same window."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import grpc
import uvloop

from pegkeeper.api.grpc.pb import price_pb2 as pb
from pegkeeper.api.grpc.pb import quotes_pb2

PRICE = "/services.price.v1.PriceService/GetCentsFromSatsForImmediateBuy"
QUOTE = "/services.quotes.v1.QuoteService/GetQuoteToBuyUsd"
WARMUP_CALLS = 500


def _method(channel: grpc.aio.Channel, kind: str) -> tuple[Any, Any]:
    if kind == "quote":
        request: Any = quotes_pb2.GetQuoteToBuyUsdRequest(amount_to_sell_in_sats=1_000_000)
        response: Any = quotes_pb2.GetQuoteToBuyUsdResponse
        path = QUOTE
    else:
        request = pb.GetCentsFromSatsForImmediateBuyRequest(amount_in_satoshis=1_000_000)
        response = pb.GetCentsFromSatsForImmediateBuyResponse
        path = PRICE
    call = channel.unary_unary(
        path,
        request_serializer=type(request).SerializeToString,
        response_deserializer=response.FromString,
    )
    return call, request


async def _closed_loop(call: Any, request: Any, inflight: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await call(request, timeout=10)
            except grpc.aio.AioRpcError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    elapsed = time.perf_counter() - began
    return {"calls": len(latencies), "seconds": elapsed, "errors": errors, "latencies": latencies}


async def _open_loop(call: Any, request: Any, rate: float, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    interval = 1 / rate
    tasks: set[asyncio.Task[None]] = set()

    async def one(scheduled: float) -> None:
        nonlocal errors
        try:
            await call(request, timeout=10)
        except grpc.aio.AioRpcError:
            errors += 1
            return
        latencies.append(time.perf_counter() - scheduled)

    began = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        scheduled = began + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    return {"calls": len(latencies), "seconds": elapsed, "errors": errors, "latencies": latencies}


async def main(args: argparse.Namespace) -> None:
    # A local subchannel pool: otherwise channels to one target share one connection.
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.aio.insecure_channel(args.target, options=options) for _ in range(args.channels)
    ]
    try:
        methods = [_method(channel, args.kind) for channel in channels]
        for i in range(WARMUP_CALLS):
            call, request = methods[i % len(methods)]
            await call(request, timeout=10)
        if args.start_at:
            await asyncio.sleep(max(0.0, args.start_at - time.time()))
        if args.rate:
            result = await _open_loop(*methods[0], args.rate, args.seconds)
        else:
            result = await _spread(methods, args.inflight, args.seconds)
    finally:
        for channel in channels:
            await channel.close()
    print(json.dumps(result))


async def _spread(methods: list[tuple[Any, Any]], inflight: int, seconds: float) -> dict[str, Any]:
    shares = [inflight // len(methods) + (i < inflight % len(methods)) for i in range(len(methods))]
    parts = await asyncio.gather(
        *(
            _closed_loop(call, request, n, seconds)
            for (call, request), n in zip(methods, shares, strict=True)
        )
    )
    return {
        "calls": sum(p["calls"] for p in parts),
        "seconds": max(p["seconds"] for p in parts),
        "errors": sum(p["errors"] for p in parts),
        "latencies": [latency for p in parts for latency in p["latencies"]],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--kind", choices=("price", "quote"), default="price")
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--start-at", type=float, default=0.0)
    uvloop.run(main(parser.parse_args()))

"""The load generator of the gRPC benchmark, in its own process: prints one JSON line.

`--inflight N`: N calls always in flight for `--seconds`; `--rate R`: R calls per second on a
fixed schedule, latency counted from each call's scheduled time (a late start counts).
`--channels C`: the calls spread over C connections (replicas sharing a port by SO_REUSEPORT
are chosen per connection).

Every run begins with `--warmup-seconds` of the same load, not counted: the connections are
open and the server has seen the load before the window opens. With `--wait-start`, the client
then prints "ready" and reads from its standard input the wall-clock time at which to start,
so that several client processes measure the same window whatever each one's start-up took.
A closed loop counts the calls that ended inside the window; the calls still in flight at its
end are waited for and left out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import grpc
import uvloop

from pegkeeper.api.grpc.pb import price_pb2 as pb
from pegkeeper.api.grpc.pb import quotes_pb2

PRICE = "/services.price.v1.PriceService/GetCentsFromSatsForImmediateBuy"
QUOTE = "/services.quotes.v1.QuoteService/GetQuoteToBuyUsd"

Method = tuple[Any, Any]  # (the multi-callable, its request)


def _method(channel: grpc.aio.Channel, kind: str) -> Method:
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


class _Tally:
    """The calls of one closed loop: those that ended inside the window, and every success
    (warm-up and tail included), which the benchmark compares with the rows stored."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end  # perf_counter times
        self.latencies: list[float] = []
        self.errors = 0
        self.ok = 0


async def _closed_loop(methods: list[Method], inflight: int, tally: _Tally) -> None:
    shares = [inflight // len(methods) + (i < inflight % len(methods)) for i in range(len(methods))]

    async def worker(call: Any, request: Any) -> None:
        while (began := time.perf_counter()) < tally.end:
            try:
                await call(request, timeout=10)
            except grpc.aio.AioRpcError:
                if tally.start <= time.perf_counter() <= tally.end:
                    tally.errors += 1
                continue
            ended = time.perf_counter()
            tally.ok += 1
            if began >= tally.start and ended <= tally.end:
                tally.latencies.append(ended - began)

    await asyncio.gather(
        *(
            worker(call, request)
            for (call, request), n in zip(methods, shares, strict=True)
            for _ in range(n)
        )
    )


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


async def _measured(methods: list[Method], args: argparse.Namespace) -> dict[str, Any]:
    now = time.perf_counter()
    warmup = _Tally(now, now + args.warmup_seconds)
    await _closed_loop(methods, args.inflight, warmup)
    late_s = 0.0
    if args.wait_start:
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        wait = float(line) - time.time()
        await asyncio.sleep(max(0.0, wait))
        late_s = max(0.0, -wait)
    if args.rate:
        result = await _open_loop(*methods[0], args.rate, args.seconds)
        return result | {"late_s": late_s, "ok": warmup.ok + result["calls"]}
    start = time.perf_counter()
    tally = _Tally(start, start + args.seconds)
    cpu = [time.process_time()]
    asyncio.get_running_loop().call_later(args.seconds, lambda: cpu.append(time.process_time()))
    await _closed_loop(methods, args.inflight, tally)
    return {
        "calls": len(tally.latencies),
        "seconds": args.seconds,
        "errors": tally.errors,
        "latencies": tally.latencies,
        "late_s": late_s,
        "ok": warmup.ok + tally.ok,
        "cpu_s": cpu[-1] - cpu[0],  # this process's, in the window
    }


async def main(args: argparse.Namespace) -> None:
    # A local subchannel pool: otherwise channels to one target share one connection.
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.aio.insecure_channel(args.target, options=options) for _ in range(args.channels)
    ]
    try:
        result = await _measured([_method(channel, args.kind) for channel in channels], args)
    finally:
        for channel in channels:
            await channel.close()
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--kind", choices=("price", "quote"), default="price")
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--warmup-seconds", type=float, default=1.0)
    parser.add_argument("--wait-start", action="store_true")
    uvloop.run(main(parser.parse_args()))

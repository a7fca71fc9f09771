"""Reaction latency: from an orderbook log's block mined at the node to the hedge order accepted
by the broker, over FILLS fills, each needing one order: the dry-run broker, and each real
broker's adapter against its local server in a process of its own (broker_servers.py).

The equity hedger runs as `pegkeeper run` builds it (bootstrap/equities.py: ingestion polling,
the hedger, the P&L, the reconciler, the broker `[equities] broker` names: the dry-run one at
latency 0, the others with the calendar "always-open" so that the run does not depend on the
hour) with the cutoff at the head (depth 0: the cutoff is reached as soon as the block is
mined) and a short poll interval, which bounds the latency: a log waits up to one interval for
the next poll. A taker in its own process (equity_emitter.py) sends one fill at a time, a
random pause of 0 to 2 poll intervals after the previous fill's order was accepted, and reads
the clock when the node answers that the block is mined; the broker's `place_order` reads it
when it returns the accepted order (a real broker's: once the server answered the order's POST,
and at Schwab the order's read that follows). The poll that read each log is known by its
start, which splits the latency into the wait for the poll and pegkeeper's own part.

Each fill is of one token (the wrapped AAPL: 1.05 shares); at a whole-share broker, of whole
shares (20 wtAAPL: 21 shares), so that each needs exactly one order.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench.broker_servers import SERVERS, local_broker
from bench.equity_chain import (
    WRAPPER_SHARES_PER_TOKEN,
    Fill,
    Market,
    anvil,
    fresh_store,
    store_labels,
)
from bench.reaction_latency import _percentile
from pegkeeper.adapters.alerts.webhook import LogAlertSink
from pegkeeper.adapters.clock import RealClock
from pegkeeper.bootstrap.equities import EquitySetup, _build
from pegkeeper.bootstrap.process import freeze_startup_heap
from pegkeeper.domain.equities.broker import BrokerKind, BrokerOrderIntent
from pegkeeper.domain.equities.chain import BlockRef
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.alerts import Alerter, AlertSettings

FILLS = int(os.environ.get("BENCH_EVENTS", "1000"))
WARM_UP_FILLS = 20
POLL_INTERVAL_S = float(os.environ.get("BENCH_EQUITY_POLL_S", "0.05"))
TARGET_P99_MS = 100.0
WAIT_S = 10.0  # for one order: past it, the run stops with an error
WHOLE_WRAPPED_TOKENS = Decimal(20)  # wtAAPL: 21 shares, whole at a whole-share broker
# the brokers measured against their local servers (on SQLite), beside the dry-run broker's
# rows (on each store); "" for none
BROKERS = [b for b in os.environ.get("BENCH_EQUITY_BROKERS", ",".join(SERVERS)).split(",") if b]


@dataclass(frozen=True, slots=True)
class Accepted:
    at_ns: int
    intent: BrokerOrderIntent


class Stamps:
    """Clock readings inside pegkeeper: each poll's start (the cutoff it found) and each order
    the broker accepted."""

    def __init__(self, setup: EquitySetup) -> None:
        self.polls: list[tuple[int, int]] = []  # (started ns, cutoff block)
        self.accepted: asyncio.Queue[Accepted] = asyncio.Queue()
        cutoff, place = setup.chain.cutoff, setup.broker.place_order

        async def timed_cutoff() -> BlockRef:
            started_ns = time.monotonic_ns()
            block = await cutoff()
            self.polls.append((started_ns, block.number))
            return block

        async def stamped_place(intent: BrokerOrderIntent) -> Any:
            report = await place(intent)
            self.accepted.put_nowait(Accepted(time.monotonic_ns(), intent))
            return report

        setup.chain.cutoff = timed_cutoff  # type: ignore[method-assign]
        setup.broker.place_order = stamped_place  # type: ignore[method-assign]

    def poll_start_ns(self, block: int) -> int:
        """When the first poll whose cutoff reached `block` started."""
        return next(started for started, cutoff in self.polls if cutoff >= block)


class Taker:
    """The emitter process: one fill's calldata in, the mined moment and block out."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def start(cls, market: Market) -> Taker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.equity_emitter",
            market.url,
            market.world.account,
            market.deployment.orderbook,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def fill(self, calldata: str) -> tuple[int, int]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(f"{calldata}\n".encode())
        await self._process.stdin.drain()
        line = await asyncio.wait_for(self._process.stdout.readline(), WAIT_S)
        if not line:
            raise RuntimeError(f"the taker process ended ({await self._process.wait()})")
        mined_ns, block = line.split()
        return int(mined_ns), int(block)

    async def stop(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 5)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


async def _started(setup: EquitySetup) -> asyncio.Task[None]:
    """The services running, a first poll read up to the head."""
    task = asyncio.create_task(setup.run(), name="equities")
    deadline = time.monotonic() + 30
    while not (setup.hedger.ready.is_set() and setup.ingestion.figures().last_success_ms):
        if task.done():
            task.result()  # its error
        if task.done() or time.monotonic() > deadline:
            task.cancel()
            raise RuntimeError("the equity hedger did not start reading the chain")
        await asyncio.sleep(0.01)
    return task


def _sized(market: Market, n: int, whole_shares: bool) -> tuple[Fill, Decimal]:
    """The n-th fill, of one token or of whole shares, and the shares it needs hedged."""
    fill = market.fill(n, shares=Decimal(1))
    if fill.symbol != "AAPL":  # the wrapped one
        return fill, Decimal(1)
    if whole_shares:
        fill = market.fill(n, shares=WHOLE_WRAPPED_TOKENS)
    return fill, fill.shares * WRAPPER_SHARES_PER_TOKEN


async def _one_fill(
    market: Market, taker: Taker, stamps: Stamps, n: int, whole_shares: bool
) -> tuple[float, float]:
    """Sends the n-th fill; returns the latency from the block mined, and from the poll's
    start, in ms."""
    fill, shares = _sized(market, n, whole_shares)
    mined_ns, block = await taker.fill(market.encoded(fill))
    accepted = await asyncio.wait_for(stamps.accepted.get(), WAIT_S)
    side = OrderSide.BUY if fill.maker_sells else OrderSide.SELL
    got = accepted.intent
    if (got.symbol, got.side, got.quantity) != (fill.symbol, side, shares):
        raise RuntimeError(f"fill {n} ({fill}) was hedged by {got}: not the order it needs")
    poll_ns = stamps.poll_start_ns(block)
    return (accepted.at_ns - mined_ns) / 1e6, (accepted.at_ns - max(poll_ns, mined_ns)) / 1e6


async def measure(market: Market, label: str, broker: str = "dry-run") -> dict[str, Any]:
    """One row: `broker` (its local server started for the row) on the store `label` names."""
    local = None
    async with AsyncExitStack() as stack:
        changes: dict[str, Any] = {}
        if broker != "dry-run":
            local = await stack.enter_async_context(local_broker(broker))
            changes = local.settings()
        head = await market.world.head()
        store = await stack.enter_async_context(fresh_store(label))
        settings = market.settings(
            deployment_block=head + 1, poll_interval_seconds=POLL_INTERVAL_S, **changes
        )
        if local is not None:
            await local.log_in(settings, store)
        clock = RealClock()
        alerter = Alerter(LogAlertSink(), store.funding, clock, AlertSettings())
        stack.push_async_callback(alerter.close)
        setup = _build(settings, store, alerter, clock)
        stack.push_async_callback(setup.close)
        freeze_startup_heap()  # as `pegkeeper run` does before it starts the services
        from_mined_ms, from_poll_ms = await _fills(market, setup)
        orders = setup.hedger.orders_sent
    # the server has stopped: what it answered is known
    per_order = f"{sum(local.requests.values()) / orders:.1f}" if local is not None else "-"
    row = _row(broker, label, from_mined_ms, from_poll_ms)
    return row | {"requests per order": per_order}


async def _fills(market: Market, setup: EquitySetup) -> tuple[list[float], list[float]]:
    """The services running, WARM_UP_FILLS then FILLS fills sent one at a time; the latency
    of each of the latter from the block mined, and from the poll's start (ms)."""
    stamps = Stamps(setup)
    whole_shares = setup.broker.kind is BrokerKind.WHOLE_SHARES
    task = await _started(setup)
    taker = await Taker.start(market)
    pause = random.Random(15)
    from_mined_ms: list[float] = []
    from_poll_ms: list[float] = []
    try:
        for n in range(WARM_UP_FILLS + FILLS):
            await asyncio.sleep(pause.uniform(0, 2 * POLL_INTERVAL_S))
            mined, polled = await _one_fill(market, taker, stamps, n, whole_shares)
            if n >= WARM_UP_FILLS:
                from_mined_ms.append(mined)
                from_poll_ms.append(polled)
    finally:
        await taker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return from_mined_ms, from_poll_ms


def _row(
    broker: str, label: str, from_mined_ms: list[float], from_poll_ms: list[float]
) -> dict[str, Any]:
    p99 = _percentile(from_mined_ms, 99)
    return {
        "broker": broker,
        "database": label,
        "fills": len(from_mined_ms),
        "p50 ms": round(statistics.median(from_mined_ms), 2),
        "p99 ms": round(p99, 2),
        "max ms": round(max(from_mined_ms), 2),
        "p99 < 100 ms": "met" if p99 < TARGET_P99_MS else "NOT MET",
        "p50 ms from poll": round(statistics.median(from_poll_ms), 2),
        "p99 ms from poll": round(_percentile(from_poll_ms, 99), 2),
    }


async def run() -> list[dict[str, Any]]:
    with anvil() as node:
        market = Market(node.url)
        try:
            await market.open()
            rows = [await measure(market, label) for label in store_labels()]
            return rows + [await measure(market, "SQLite", broker) for broker in BROKERS]
        finally:
            await market.close()

"""Ingestion throughput: decoded fills per second over a backfill from anvil.

The maker's fills are emitted cheaply: each transaction is one `multicall` of the stand-in
orderbook carrying FILLS_PER_TX TakeOrderV3 / TakeOrderV2 events, mined in its own block with
empty blocks between (TX_COUNT blocks with fills over about TX_COUNT x (1 + EMPTY_BLOCKS)
blocks). Then chain ingestion as production builds it (RaindexChain over HTTP, the domain's
classification, the SQL repository) reads from the deployment block to the head in ranges of
1 000 blocks, on SQLite and on PostgreSQL, and the wall time is split between the RPC (a
request in flight, web3's parsing of the answer included), the adapter's decoding, the
classification and the store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.equity_chain import Market, anvil, fresh_store, store_labels
from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.bootstrap.process import freeze_startup_heap
from pegkeeper.services.equities.ingestion import ChainIngestion, IngestionSettings

TX_COUNT = int(os.environ.get("BENCH_EQUITY_TXS", "256"))
FILLS_PER_TX = 40  # 10 240 logs in 256 blocks with fills
EMPTY_BLOCKS = 7  # between two blocks with fills: about 2 000 blocks, three ranges
RANGE_BLOCKS = 1_000
DISTINCT_CALLS = 120  # encoded once each, then reused (a log's identity is its position)


class Probe:
    """Wall time by part: the RPC counts while at least one request is in flight (requests
    run in parallel); decoding is `read_range` without its RPC, classification likewise."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._busy_since = 0.0
        self.reset()

    def reset(self) -> None:
        self.rpc_s = self.store_s = self.decode_s = self.classify_s = 0.0

    def rpc_so_far(self) -> float:
        open_s = time.perf_counter() - self._busy_since if self._in_flight else 0.0
        return self.rpc_s + open_s

    def rpc(self, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            if self._in_flight == 0:
                self._busy_since = time.perf_counter()
            self._in_flight += 1
            try:
                return await call(*args, **kwargs)
            finally:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self.rpc_s += time.perf_counter() - self._busy_since

        return timed

    def without_rpc(
        self, call: Callable[..., Awaitable[Any]], part: str
    ) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started, rpc_before = time.perf_counter(), self.rpc_so_far()
            try:
                return await call(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started - (self.rpc_so_far() - rpc_before)
                setattr(self, part, getattr(self, part) + spent)

        return timed


class TimedRepository:
    """The repository with the time of every call added to the probe's store time."""

    def __init__(self, repository: Any, probe: Probe) -> None:
        self._repository = repository
        self._probe = probe

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._repository, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self._probe.store_s += time.perf_counter() - started

        return timed


async def emit(market: Market) -> tuple[int, int]:
    """The fills, mined; returns (logs emitted, the head block)."""
    pool = [market.encoded(market.fill(n)) for n in range(DISTINCT_CALLS)]
    orderbook = market.world.orderbook
    for tx in range(TX_COUNT):
        calls = [pool[(tx * FILLS_PER_TX + k) % DISTINCT_CALLS] for k in range(FILLS_PER_TX)]
        await market.world.send(orderbook.functions.multicall(calls))
        await market.world.mine(EMPTY_BLOCKS)
    return TX_COUNT * FILLS_PER_TX, await market.world.head()


def ingestion(
    market: Market, store: SqlStore, probe: Probe | None
) -> tuple[ChainIngestion, RaindexChain]:
    """Chain ingestion as bootstrap/equities.py builds it, reading to the head."""
    settings = market.settings(range_blocks=RANGE_BLOCKS)
    chain = RaindexChain(
        settings.rpc_url.get_secret_value(),
        settings.orderbook,
        cutoff=settings.cutoff,
        keep_blocks=settings.keep_block_hashes,
        timeout_s=settings.request_timeout_seconds,
    )
    repository: Any = store.equities
    if probe is not None:
        chain._rpc.call = probe.rpc(chain._rpc.call)  # type: ignore[method-assign]
        chain.read_range = probe.without_rpc(chain.read_range, "decode_s")  # type: ignore[method-assign]
        repository = TimedRepository(repository, probe)
    service = ChainIngestion(
        chain,
        repository,
        settings.universe(),
        RealClock(),
        IngestionSettings(
            deployment_block=settings.deployment_block,
            poll_interval_seconds=settings.poll_interval_seconds,
            range_blocks=settings.range_blocks,
            keep_block_hashes=settings.keep_block_hashes,
            checkpoint_stall_alert_seconds=settings.checkpoint_stall_alert_seconds,
            request_timeout_seconds=settings.request_timeout_seconds,
        ),
    )
    if probe is not None:
        classifier = service._classifier
        classifier.classify = probe.without_rpc(classifier.classify, "classify_s")  # type: ignore[method-assign]
    return service, chain


async def backfill(market: Market, label: str, logs: int, head: int) -> dict[str, Any]:
    """One backfill from the deployment block to the head on a fresh store."""
    async with fresh_store(label) as store:
        probe = Probe()
        service, chain = ingestion(market, store, probe)
        try:
            await service.start()  # the tokens' checks: not counted
            freeze_startup_heap()  # as `pegkeeper run` does before it starts the services
            probe.reset()
            started = time.perf_counter()
            fills = await service.poll_once()
            elapsed_s = time.perf_counter() - started
        finally:
            await chain.aclose()
        figures = service.figures()
    if len(fills) != logs or figures.checkpoint_block != head:
        raise RuntimeError(
            f"{label}: ingested {len(fills)} fills of {logs} logs up to block "
            f"{figures.checkpoint_block} of {head} (skipped: {figures.skipped_by_reason})"
        )
    return _row(label, market, logs, head, elapsed_s, probe)


def _row(
    label: str, market: Market, logs: int, head: int, elapsed_s: float, probe: Probe
) -> dict[str, Any]:
    blocks = head - market.deployment_block + 1
    decode_s = probe.decode_s
    rest_s = elapsed_s - probe.rpc_s - decode_s - probe.classify_s - probe.store_s

    def share(part_s: float) -> str:
        return f"{100 * part_s / elapsed_s:.0f} %"

    return {
        "database": label,
        "logs": logs,
        "blocks": f"{blocks} ({TX_COUNT} with fills)",
        "ranges": -(-blocks // RANGE_BLOCKS),
        "seconds": round(elapsed_s, 2),
        "fills/s": f"{logs / elapsed_s:,.0f}",
        "RPC": share(probe.rpc_s),
        "decode": share(decode_s),
        "classify": share(probe.classify_s),
        "store": share(probe.store_s),
        "other": share(rest_s),
    }


async def run() -> list[dict[str, Any]]:
    with anvil() as node:
        market = Market(node.url)
        try:
            await market.open()
            logs, head = await emit(market)
            return [await backfill(market, label, logs, head) for label in store_labels()]
        finally:
            await market.close()

"""The simulated Bitcoin Core wallet (sim/bitcoind_rpc.py) as a local JSON-RPC server for the
bitcoind adapter's tests: on a free port, its time moving only when `mine` finds blocks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from pegkeeper.sim.bitcoind_rpc import SimBitcoind
from pegkeeper.sim.chain import SimChain

WALLET = "pegkeeper"
USER, PASSWORD = "rpcuser", "rpc-password-not-for-logs"
START_MS = 1_700_000_000_000


class FakeBitcoind(SimBitcoind):
    def __init__(self, chain: SimChain) -> None:
        super().__init__(chain, wallet=WALLET, user=USER, password=PASSWORD)
        self.now_ms = START_MS
        self.url = ""

    def mine(self, blocks: int = 1) -> None:
        self.now_ms += blocks * self.chain.block_interval_ms
        self.chain.advance(self.now_ms)


@asynccontextmanager
async def running_bitcoind(balance_sats: int = 300_000_000) -> AsyncIterator[FakeBitcoind]:
    node = FakeBitcoind(SimChain(START_MS, balance_sats))
    app = web.Application()
    node.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    node.url = f"http://127.0.0.1:{port}"
    try:
        yield node
    finally:
        await runner.cleanup()

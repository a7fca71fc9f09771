"""What the equity benchmarks share: anvil with the embedded demo's contracts (the stand-in
orderbook, USDC, tAAPL behind its wrapper wtAAPL, tMSFT, tNVDA), the maker's fills encoded as
orderbook calls, the `[equities]` settings that read them, and the stores to run on."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from web3 import Web3

from bench.reaction_latency import fresh_postgres_database
from pegkeeper.adapters.chain.anvil import INSTALL_HINT, AnvilNode, anvil_path
from pegkeeper.adapters.chain.demo_market import DemoDeployment, DemoMarket
from pegkeeper.adapters.chain.stand_in import (
    RaindexWorld,
    float_word,
    order_v3,
    order_v4,
    take_config_v3,
    take_config_v4,
)
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.bootstrap.equities import demo_settings
from pegkeeper.config.equities import EquitiesSettings
from pegkeeper.sim.raindex.artifacts import load_artifacts

SHARE_DECIMALS = 18
USDC_DECIMALS = 6
FLOAT_EXPONENT = -18
PRICES_USD = {"AAPL": Decimal(230), "MSFT": Decimal(480), "NVDA": Decimal(180)}
WRAPPER_SHARES_PER_TOKEN = Decimal("1.05")  # wtAAPL after a dividend: a real conversion


class AnvilMissing(RuntimeError):
    pass


@contextmanager
def anvil() -> Iterator[AnvilNode]:
    """A fresh anvil mining a block per transaction (or when asked)."""
    binary = anvil_path()
    if binary is None:
        raise AnvilMissing(f"the equities benchmarks need anvil: {INSTALL_HINT}")
    node = AnvilNode(binary)
    node.start()
    try:
        yield node
    finally:
        node.stop()


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of the maker's order, as the taker's call to the orderbook."""

    symbol: str
    maker_sells: bool
    shares: Decimal
    usdc: Decimal
    v4: bool  # OrderBook V4's TakeOrderV2 (integer amounts), else TakeOrderV3 (Float words)


class Market:
    """The demo's contracts on `url`, and the maker's fills as encoded orderbook calls."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._demo = DemoMarket(url)
        self.world = RaindexWorld(url, load_artifacts())

    async def open(self) -> DemoDeployment:
        self.deployment = await self._demo.deploy()
        await self.world.start(orderbook=self.deployment.orderbook)
        self._usdc = Web3.to_checksum_address(self.deployment.usdc)
        self._traded = {
            a.symbol: Web3.to_checksum_address(a.wrapper or a.token) for a in self.deployment.assets
        }
        for asset in self.deployment.assets:
            if asset.wrapper:
                wrapper = self.world.attach("TestWrapper", asset.wrapper)
                ratio_wad = int(WRAPPER_SHARES_PER_TOKEN * 10**18)
                await self.world.send(wrapper.functions.setAssetsPerShare(ratio_wad))
        # read from the block after the contracts (their deployment is not read)
        self.deployment_block = await self.world.head() + 1
        return self.deployment

    async def close(self) -> None:
        await self._demo.close()
        await self.world.close()

    def settings(self, **changes: Any) -> EquitiesSettings:
        """`[equities]` reading this chain with the cutoff at the head (depth 0), the demo's
        dry-run broker at latency 0; `changes` override keys."""
        base = demo_settings(EquitiesSettings(), self.url, self.deployment)
        raw = base.model_dump()
        raw |= {
            "rpc_url": self.url,
            "deployment_block": self.deployment_block,
            "cutoff": 0,
            "dry_run": raw["dry_run"] | {"latency_ms": 0},
        }
        return EquitiesSettings.model_validate(raw | changes)

    def fill(self, n: int, *, shares: Decimal | None = None) -> Fill:
        """The n-th fill of a fixed mix: the three assets in turn, the maker selling and
        buying in turn, one in five a V4 event; sizes from 0.5 to 3 shares unless given."""
        symbol = sorted(PRICES_USD)[n % 3]
        size = shares if shares is not None else Decimal(5 + (n * 7) % 26) / 10
        maker_sells = (n // 3) % 2 == 0
        spread = Decimal("1.002") if maker_sells else Decimal("0.998")
        usdc = (size * PRICES_USD[symbol] * spread).quantize(Decimal("0.000001"), ROUND_DOWN)
        return Fill(symbol, maker_sells, size, usdc, v4=n % 5 == 4)

    def call(self, fill: Fill) -> tuple[str, list[Any]]:
        """The orderbook function and arguments that emit `fill` (as demo_market.py does)."""
        stock, owner = self._traded[fill.symbol], self.world.owner
        # the taker's side: it receives the order's output and gives the order's input
        taker_in, taker_out = (
            (fill.shares, fill.usdc) if fill.maker_sells else (fill.usdc, fill.shares)
        )
        if not fill.v4:
            ios = ([self._usdc], [stock]) if fill.maker_sells else ([stock], [self._usdc])
            order = order_v4(owner, *ios)
            return "takeOrderV3", [take_config_v4(order, 0, 0), _float(taker_in), _float(taker_out)]
        cash, share = (self._usdc, USDC_DECIMALS), (stock, SHARE_DECIMALS)
        order = order_v3(owner, *(([cash], [share]) if fill.maker_sells else ([share], [cash])))
        share_units = _units(fill.shares, SHARE_DECIMALS)
        usdc_units = _units(fill.usdc, USDC_DECIMALS)
        in_units, out_units = (
            (share_units, usdc_units) if fill.maker_sells else (usdc_units, share_units)
        )
        return "takeOrderV2", [take_config_v3(order, 0, 0), in_units, out_units]

    def encoded(self, fill: Fill) -> str:
        """The call's calldata, 0x-prefixed (as a transaction's `data`)."""
        name, args = self.call(fill)
        return str(self.world.orderbook.encode_abi(name, args=args))


def _units(amount: Decimal, decimals: int) -> int:
    return int(amount.scaleb(decimals).to_integral_value(ROUND_DOWN))


def _float(amount: Decimal) -> bytes:
    coefficient = int(amount.scaleb(-FLOAT_EXPONENT).to_integral_value(ROUND_DOWN))
    return float_word(coefficient, FLOAT_EXPONENT)


def postgres_server() -> str:
    """BENCH_POSTGRES, as the reaction benchmark reads it ("off": SQLite only)."""
    return os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def store_labels() -> list[str]:
    return ["SQLite"] + ([] if postgres_server() == "off" else ["PostgreSQL"])


@asynccontextmanager
async def fresh_store(label: str) -> AsyncIterator[SqlStore]:
    """An empty store: a SQLite file in a temporary directory, or a new PostgreSQL database
    (dropped afterwards)."""
    with tempfile.TemporaryDirectory() as data_dir:
        drop = None
        if label == "SQLite":
            url = f"sqlite+aiosqlite:///{data_dir}/pegkeeper.db"
        else:
            # it runs its own event loop: in a thread, beside this one
            url, drop = await asyncio.to_thread(fresh_postgres_database, postgres_server())
        try:
            store = await open_store(url, clock=RealClock())
            try:
                yield store
            finally:
                await store.close()
        finally:
            if drop is not None:
                await asyncio.to_thread(drop)

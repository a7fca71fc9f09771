"""Takers filling the maker's Raindex orders while a test breaks the cluster: TakeOrderV3 fills
on the local chain, each recorded as emitted (its id, symbol, the maker's signed shares).

Every fill is a whole number of quarter shares at the symbol's fixed price: any open
exposure is then worth at least a quarter share (50 USD and more), far above the broker's
minimum, so once the hedger has settled every share is hedged and none waits below it."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from decimal import Decimal

from tests.cluster.equity_support import PRICES, SYMBOLS
from tests.integration.equities_pipeline.market import Market, fill_id

QUARTER = Decimal("0.25")


@dataclass(frozen=True, slots=True)
class Emitted:
    fill_id: str
    symbol: str
    signed_shares: Decimal  # the maker's: bought onchain positive
    usdc: Decimal


class FillFlow:
    def __init__(self, market: Market, seed: int, interval_seconds: float = 0.4) -> None:
        self._market = market
        self._random = random.Random(seed)
        self._interval_seconds = interval_seconds
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.emitted: list[Emitted] = []

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fill-flow")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task  # a fill that could not be sent fails the test here

    def net(self) -> dict[str, Decimal]:
        """Per symbol: shares the maker bought onchain minus those it sold."""
        net = dict.fromkeys(SYMBOLS, Decimal(0))
        for fill in self.emitted:
            net[fill.symbol] += fill.signed_shares
        return net

    async def _run(self) -> None:
        while not self._stop.is_set():
            await self.emit_one()
            jitter = self._random.uniform(0.5, 1.5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval_seconds * jitter)

    async def emit_one(self) -> Emitted:
        symbol = self._random.choice(SYMBOLS)
        shares = QUARTER * self._random.randint(1, 12)
        usdc = shares * PRICES[symbol]
        maker_sells = self._random.random() < 0.5
        trade = self._market.sell if maker_sells else self._market.buy
        sent = await trade(symbol, str(shares), str(usdc))
        emitted = Emitted(fill_id(sent), symbol, -shares if maker_sells else shares, usdc)
        self.emitted.append(emitted)
        return emitted

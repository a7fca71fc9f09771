"""The demo's users: they buy and sell synthetic USD at random, so the hedge has work to do.

Paced so that a newcomer watches the hedge follow: a trade every few real seconds at the
simulator's speed, each a few percent of the book (inside or just outside the hedge's
brackets), and on an empty ledger an opening book posted at once, so that the funding manager
keeps the collateral that hedge needs instead of withdrawing it to the wallet first."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass

import structlog

from pegkeeper.domain.errors import ConflictError, InvalidInput
from pegkeeper.ports import Clock
from pegkeeper.services.ledger.liability import LiabilityService

log = structlog.get_logger("pegkeeper.demo")


@dataclass(frozen=True, slots=True)
class DemoFlowSettings:
    seed: int = 7
    mean_interval_seconds: float = 300.0
    median_trade_cents: int = 20_000
    max_liability_cents: int = 2_000_000
    opening_liability_cents: int = 1_000_000  # posted at start when the ledger is empty


def next_trade_cents(rng: random.Random, balance_cents: int, settings: DemoFlowSettings) -> int:
    """A signed liability change: log-normal size; users buy more when the book is small."""
    size = int(settings.median_trade_cents * math.exp(rng.gauss(0.0, 0.8)))
    size = max(100, size)
    fill = balance_cents / settings.max_liability_cents
    buying = rng.random() >= fill * 0.9
    if buying:
        return min(size, settings.max_liability_cents - balance_cents)
    return -min(size, balance_cents)


class DemoFlow:
    def __init__(
        self, liability: LiabilityService, clock: Clock, settings: DemoFlowSettings
    ) -> None:
        self._liability = liability
        self._clock = clock
        self._settings = settings
        self._rng = random.Random(settings.seed)
        self.posted = 0

    async def run(self) -> None:
        await self.open_book()
        while True:
            await self._clock.sleep(self._rng.expovariate(1 / self._settings.mean_interval_seconds))
            await self.step()

    async def open_book(self) -> None:
        """The users' opening balances, once, on an empty ledger (a restart resumes the book)."""
        opening = min(self._settings.opening_liability_cents, self._settings.max_liability_cents)
        if opening > 0 and await self._liability.balance_cents() == 0:
            await self._post(opening, "demo users' opening balances")

    async def step(self) -> None:
        balance = await self._liability.balance_cents()
        delta = next_trade_cents(self._rng, balance, self._settings)
        if delta == 0:
            return
        await self._post(delta, "demo user buys USD" if delta > 0 else "demo user sells USD")

    async def _post(self, delta: int, memo: str) -> None:
        try:
            await self._liability.post(f"demo-{uuid.uuid4().hex}", delta, memo, source="demo")
            self.posted += 1
        except (InvalidInput, ConflictError) as error:
            log.info("demo trade refused", delta_cents=delta, reason=str(error))

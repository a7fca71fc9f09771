"""Plays a price path into the simulated exchange at the pace of a clock."""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Sequence
from itertools import pairwise

from pegkeeper.sim.clock import SimClock
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.price_path import PriceTick

OnTick = Callable[[PriceTick], Awaitable[None]]


def period_ms(ticks: Sequence[PriceTick]) -> int:
    """How far each repetition of a looping path is shifted forward."""
    if len(ticks) < 2:
        return 0
    return ticks[-1].ts_ms - ticks[0].ts_ms + (ticks[1].ts_ms - ticks[0].ts_ms)


def path_position(
    ticks: Sequence[PriceTick], after_ms: int, offset_ms: int = 0, loop: bool = True
) -> tuple[int, int]:
    """Where play stands after `after_ms`: the repetition's offset and the index of its first
    tick after that time."""
    first_ms, period = ticks[0].ts_ms, period_ms(ticks)
    if loop and period > 0 and after_ms >= first_ms + offset_ms + period:
        offset_ms += (after_ms - first_ms - offset_ms) // period * period
    index = bisect_right([t.ts_ms + offset_ms for t in ticks], after_ms)
    return offset_ms, index


def tick_in_force(ticks: Sequence[PriceTick], at_ms: int) -> PriceTick:
    """The tick of a looping path in force at `at_ms` (the first one, before it starts), at
    the time it plays."""
    offset_ms, index = path_position(ticks, at_ms)
    tick = ticks[max(index - 1, 0)]
    return PriceTick(tick.ts_ms + offset_ms, tick.price_usd)


class PricePlayer:
    """Sets each tick's price in the engine when the clock reaches the tick's time.

    Ticks play at their own timestamps (`start_ms` shifts the whole path to start then). With
    `loop`, the path starts over when it ends, shifted forward by its length (last minus first
    tick plus one tick step), so time never goes back. With `after_ms` (a restarted demo goes on
    from its last stored time), play starts with the first tick after it, in whichever
    repetition of the path that falls. `on_tick` receives each tick as played.
    With `every_instrument`, each tick prices every live instrument of the engine (swaps and
    futures alike); otherwise `instrument_id`, the engine's first by default.
    """

    def __init__(
        self,
        engine: SimEngine,
        ticks: Sequence[PriceTick],
        clock: SimClock,
        on_tick: OnTick | None = None,
        loop: bool = True,
        *,
        instrument_id: str | None = None,
        start_ms: int | None = None,
        every_instrument: bool = False,
        after_ms: int | None = None,
    ) -> None:
        if not ticks:
            raise ValueError("the price path has no ticks")
        if any(a.ts_ms >= b.ts_ms for a, b in pairwise(ticks)):
            raise ValueError("tick times must be strictly increasing")
        if loop and len(ticks) < 2:
            raise ValueError("a looping price path needs at least two ticks")
        self._engine = engine
        self._ticks = ticks
        self._clock = clock
        self._on_tick = on_tick
        self._loop = loop
        self._instrument_id = instrument_id
        self._every_instrument = every_instrument
        self._start_offset_ms = 0 if start_ms is None else start_ms - ticks[0].ts_ms
        self._after_ms = after_ms
        self.ticks_played = 0

    @property
    def period_ms(self) -> int:
        """How far each repetition of the path is shifted forward."""
        return period_ms(self._ticks)

    async def run(self) -> None:
        offset_ms, index = self._start_offset_ms, 0
        if self._after_ms is not None:
            offset_ms, index = path_position(self._ticks, self._after_ms, offset_ms, self._loop)
        while True:
            for tick in self._ticks[index:]:
                await self._play(PriceTick(tick.ts_ms + offset_ms, tick.price_usd))
            if not self._loop:
                return
            offset_ms += self.period_ms
            index = 0

    async def _play(self, tick: PriceTick) -> None:
        await self._wait_until(tick.ts_ms)
        if self._every_instrument:
            self._engine.set_prices(tick.ts_ms, tick.price_usd)
        else:
            self._engine.set_price(tick.ts_ms, tick.price_usd, self._instrument_id)
        self.ticks_played += 1
        if self._on_tick is not None:
            await self._on_tick(tick)

    async def _wait_until(self, due_ms: int) -> None:
        delay_ms = due_ms - self._clock.now_ms()
        if delay_ms <= 0:
            # Catching up: still let the other tasks run between ticks.
            await asyncio.sleep(0)
            return
        while delay_ms > 0:
            await self._clock.sleep(delay_ms / 1000)
            delay_ms = due_ms - self._clock.now_ms()

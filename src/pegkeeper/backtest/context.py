"""What a backtest's funding step is built from, and the factory that builds it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.backtest.funding_step import FundingStep
from pegkeeper.backtest.settings import BacktestSettings
from pegkeeper.backtest.store import MemoryStore
from pegkeeper.backtest.venue import LatentSimVenue
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.instruments import Instrument
from pegkeeper.sim.engine import SimEngine


@dataclass(frozen=True, slots=True)
class RunContext:
    """The run's own engine, venue, clock, store and bus, and its liability in cents."""

    engine: SimEngine
    venue: LatentSimVenue
    clock: ManualClock
    store: MemoryStore
    bus: MemoryBus
    instrument: Instrument
    settings: BacktestSettings
    liability_cents: Callable[[], int]
    allocation: Allocation | None = None  # None: the one instrument carries it all


FundingFactory = Callable[[RunContext], FundingStep]

"""Real BTC price paths through the simulated exchange with the hedger and the funding
manager in their default configuration, on a manual clock: how close did the hedge come to
liquidation, and what moved the collateral."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.adapters.wallet.sim import SimWallet
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.collateral_policy import StablesatsCollateralPolicy
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.instruments import BTC_USD_SWAP
from pegkeeper.domain.margin import liquidation_distance_pct
from pegkeeper.domain.units import round_btc
from pegkeeper.ports import Store
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.collateral.manager import CollateralManager, CollateralSettings
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.chain import SimChain
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.price_path import PriceTick
from tests.fakes import RecordingSink

SWAP = "BTC-USD-SWAP"
FUNDING_CHECK_MS = 300_000  # the funding manager's periodic check: deposits, refills
HEDGER_CHECK_MS = 1_800_000  # the inverse hedge needs no re-sizing as the price moves


@dataclass(frozen=True, slots=True)
class StressRun:
    ticks: int
    min_distance_pct: Decimal
    min_distance_at_ms: int
    max_leverage: Decimal
    liquidations: int
    funding_cycles: int
    seconds: float  # wall-clock time of the run


async def run_path(
    ticks: list[PriceTick],
    store: Store,
    liability_cents: int,
    alerts: AlertSettings,
    start_leverage: Decimal = Decimal(3),
) -> tuple[StressRun, CollateralManager, SimEngine]:
    """Starts hedged at the first price with the collateral at `start_leverage` (3: the
    steady state of the rules) and 1 BTC in funding, then plays every tick. The distance to
    liquidation is measured as each price arrives, before the services react to it."""
    started = time.perf_counter()
    first = ticks[0]
    clock = ManualClock(first.ts_ms)
    engine = SimEngine([BTC_USD_SWAP])  # the defaults: 0.05 % taker fee, 0.4 % MMR, 4x
    engine.set_price(first.ts_ms, first.price_usd)
    hedged_btc = Decimal(liability_cents) * Decimal("0.98") / (first.price_usd * 100)
    engine.credit_trading(round_btc(hedged_btc / start_leverage))
    engine.credit_funding(Decimal(1))
    chain = SimChain(first.ts_ms, 10 * 100_000_000)
    wallet = SimWallet(chain, clock, engine.wallet)
    venue, bus = SimVenue(engine, clock), MemoryBus()
    alerter = Alerter(RecordingSink(), store.funding, clock, alerts)
    hedger = HedgerService(
        store, venue, bus, clock, StablesatsHedgePolicy(), HedgerSettings(wait_for_collateral=True)
    )
    funding = CollateralManager(
        store,
        venue,
        SimFunding(engine, clock),
        wallet,
        bus,
        clock,
        StablesatsCollateralPolicy(),
        Allocation.single(SWAP),
        alerter,
        CollateralSettings(),
    )
    await LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**12).post(
        "stress", liability_cents
    )
    await hedger.cycle("liability", "stress")
    await funding.cycle("startup")
    min_distance, min_at, max_leverage = Decimal(100), first.ts_ms, Decimal(0)
    next_funding_check = first.ts_ms + FUNDING_CHECK_MS
    next_hedger_check = first.ts_ms + HEDGER_CHECK_MS
    for tick in ticks[1:]:
        clock.set(tick.ts_ms)
        engine.set_price(tick.ts_ms, tick.price_usd)
        position = engine.position(SWAP)
        distance = liquidation_distance_pct(tick.price_usd, position.liquidation_price_usd)
        if distance is not None and distance < min_distance:
            min_distance, min_at = distance, tick.ts_ms
        equity = engine.balances("BTC").trading_equity
        if position.size_contracts and equity > 0:
            leverage = abs(position.size_contracts) * 100 / tick.price_usd / equity
            max_leverage = max(max_leverage, leverage)
        wallet.sync()
        if funding.on_price(tick.price_usd):
            await funding.cycle("price")
        if tick.ts_ms >= next_hedger_check:
            next_hedger_check += HEDGER_CHECK_MS
            await hedger.cycle("periodic", "stress")
        if tick.ts_ms >= next_funding_check:
            next_funding_check += FUNDING_CHECK_MS
            await funding.cycle("periodic")
    await alerter.drain()
    run = StressRun(
        ticks=len(ticks),
        min_distance_pct=min_distance,
        min_distance_at_ms=min_at,
        max_leverage=max_leverage,
        liquidations=engine.liquidation_count,
        funding_cycles=funding.cycles,
        seconds=time.perf_counter() - started,
    )
    return run, funding, engine

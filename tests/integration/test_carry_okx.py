"""The carry allocation end to end on the OKX simulator (a real local server, through the OKX
adapter) and SQLite: a perpetual and the rolling quarterly, 50 000 USD of liability, funding at
-0.3 % per 8 hours. Each check moves 2 % of the liability to the quarterly once the hedgers
(running, woken by the change) have followed the last step; the two legs' shorts stay inside
stablesats' brackets of the liability all along."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import open_store
from pegkeeper.domain.allocation import Allocation, HedgeLeg, quarterly_instrument_id
from pegkeeper.domain.carry import CarryParams
from pegkeeper.domain.carry_records import CarryDecisionRecord
from pegkeeper.domain.events import TOPIC_ALLOCATION
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.services.hedging.carry import CarryAllocator, CarryAllocatorSettings
from pegkeeper.services.hedging.carry_weights import SharedWeights
from pegkeeper.services.hedging.hedger import HedgerService
from pegkeeper.services.ledger.liability import LiabilityService
from tests.integration.conftest import sqlite_url
from tests.okx_sim import running_sim
from tests.okx_world import FAST_HEDGER, okx_venue
from tests.waiting import until

PERP, QUARTERLY = "BTC-USD-SWAP", "BTC-USD-QUARTERLY"
ALLOCATION = Allocation((HedgeLeg(PERP), HedgeLeg(QUARTERLY)))
LIABILITY_CENTS = 5_000_000  # 50 000 USD: 500 contracts of 100 USD
LEAD_MS = 24 * 3_600_000
# After each step, the shorts stablesats leaves on each leg (contracts of 10 000 cents):
# 0.98 / 0.02: the quarterly sells round(0.98 * 100 000 / 10 000) = 10; the perpetual's 490
#   are 490 / 490 of its share;
# 0.96 / 0.04: the quarterly at 0.5 of 200 000 sells round((196 000 - 100 000) / 10 000) = 10;
# 0.94 / 0.06: it sells round((294 000 - 200 000) / 10 000) = 9, and the perpetual, at
#   490 / 470 = 1.043 > 1.03, buys back round((4 900 000 - 4 700 000) / 10 000) = 20;
# 0.92 / 0.08: the quarterly sells round((392 000 - 290 000) / 10 000) = 10.
STEPS = [
    ((Decimal("0.98"), Decimal("0.02")), (-490, -10)),
    ((Decimal("0.96"), Decimal("0.04")), (-490, -20)),
    ((Decimal("0.94"), Decimal("0.06")), (-470, -29)),
    ((Decimal("0.92"), Decimal("0.08")), (-470, -39)),
]


async def test_negative_funding_moves_the_hedge_to_the_quarterly_step_by_step(
    tmp_path: Path,
) -> None:
    sim_options = {"funding_rate": Decimal("-0.003"), "trading_btc": Decimal(10)}
    async with running_sim(**sim_options) as sim, okx_venue(sim) as venue:
        store = await open_store(sqlite_url(tmp_path))
        bus, clock, policy = MemoryBus(), RealClock(), StablesatsHedgePolicy()
        announced = bus.subscribe(TOPIC_ALLOCATION)
        weights = SharedWeights(store.allocation, (PERP, QUARTERLY))
        hedgers = [
            HedgerService(
                store, venue, bus, clock, policy,
                replace(
                    FAST_HEDGER, instrument_id=leg.instrument_id, allocation=ALLOCATION,
                    leg_index=index,
                ),
                weights=weights,
            )
            for index, leg in enumerate(ALLOCATION.legs)
        ]  # fmt: skip
        settings = CarryAllocatorSettings(ALLOCATION, CarryParams(), Decimal(7), PERP)
        carry = CarryAllocator(
            store, store.allocation, venue, venue.funding, bus, clock, policy, settings
        )
        tasks = [asyncio.create_task(hedger.run()) for hedger in hedgers]
        quarterly = quarterly_instrument_id(clock.now_ms(), LEAD_MS)

        async def settled(perp: int, future: int) -> bool:
            held = (sim.position_contracts(PERP), sim.position_contracts(quarterly))
            return held == (perp, future) and not await store.hedge.open_orders()

        async def decide(found: list[CarryDecisionRecord]) -> bool:
            decision = await carry.check()
            if decision is not None:
                found.append(decision)
            return decision is not None

        try:
            await until(lambda: all(h.ready.is_set() for h in hedgers), "the hedgers started")
            liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**10)
            await liability.post("u1", LIABILITY_CENTS)
            await until(lambda: settled(-490, 0), "all on the perpetual, as at the start")
            shares = []
            for expected_weights, (perp, future) in STEPS:
                decided: list[CarryDecisionRecord] = []
                await until(lambda d=decided: decide(d), "a check that finds the hedge in place")
                (decision,) = decided
                assert decision.weights == expected_weights and decision.changed
                await until(
                    lambda p=perp, f=future: settled(p, f), f"the hedge at {perp}, {future}"
                )
                shares.append(decision.weights[1])
                # both legs' shorts against the whole liability: inside [0.95, 1.03]
                ratio = Decimal((perp + future) * -10_000) / LIABILITY_CENTS
                assert Decimal("0.95") <= ratio <= Decimal("1.03")
            assert shares == sorted(shares) and shares[-1] == Decimal("0.08")
            stored = await store.allocation.weights()
            assert stored.version == 4
            assert stored.for_legs((PERP, QUARTERLY)) == (Decimal("0.92"), Decimal("0.08"))
            assert announced.queue.qsize() == 4  # one announcement per change
            (last,) = await store.allocation.recent_decisions(1)
            assert last.rule == "moving to a better net carry"
            assert last.legs[0].next_rate == Decimal("-0.003")
            assert last.legs[1].instrument_id == quarterly
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, 10)
            await store.close()

"""`would_act`, the backtester's question to the hedge cycle after every flow: the same answer
as the policy's decision, without asking the policy again for a liability between two found
holding at the same exposure. That relies on the liabilities a policy holds at forming one
interval for one exposure, which the property test checks for each policy."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.band_policy import BandHedgePolicy
from pegkeeper.domain.hedge_policy import (
    HedgeDecision,
    HedgeInputs,
    HedgePolicy,
    StablesatsHedgePolicy,
)
from pegkeeper.domain.venue import VenuePosition
from pegkeeper.services.hedging.cycle import HedgeCycle, HedgerSettings
from pegkeeper.sim.engine import SimEngine
from tests.fakes import FakeStore

T0 = 1_700_000_000_000
SWAP = "BTC-USD-SWAP"
CONTRACT_CENTS = Decimal(10_000)  # a 100 USD inverse contract


@dataclass
class CountingPolicy:
    policy: HedgePolicy
    decisions: int = 0
    asked: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.policy.name

    def decide(self, inputs: HedgeInputs) -> HedgeDecision:
        self.decisions += 1
        self.asked.append(inputs.liability_cents)
        return self.policy.decide(inputs)


async def cycle_after_start(policy: HedgePolicy) -> HedgeCycle:
    engine = SimEngine()
    clock = ManualClock(T0)
    engine.set_price(T0, Decimal(10_000))
    cycle = HedgeCycle(
        FakeStore(), SimVenue(engine, clock), MemoryBus(), clock, policy, HedgerSettings()
    )
    await cycle.cycle("startup", "c0")  # nothing owed: holds, and knows its instrument
    return cycle


def short(contracts: int) -> VenuePosition:
    return VenuePosition(SWAP, Decimal(-contracts), None, Decimal(10_000))


async def test_a_liability_between_two_found_holding_is_not_asked_again() -> None:
    policy = CountingPolicy(StablesatsHedgePolicy())
    cycle = await cycle_after_start(policy)
    policy.decisions, policy.asked = 0, []
    # a short of 1 000 contracts (100 000 USD) holds for 100 000 / 1.03 = 97 088 USD up to
    # 100 000 / 0.95 = 105 263 USD owed (the rounding of stablesats' sizes widens it a little)
    assert not cycle.would_act(10_000_000, short(1000))
    assert not cycle.would_act(10_400_000, short(1000))
    assert not cycle.would_act(10_200_000, short(1000))  # between the two: not asked
    assert policy.asked == [10_000_000, 10_400_000]
    assert cycle.would_act(11_000_000, short(1000))  # ratio 0.909: a sell
    assert not cycle.would_act(10_100_000, short(1000))
    assert policy.asked == [10_000_000, 10_400_000, 11_000_000]
    # another exposure: the liabilities found holding for the last one say nothing of it
    assert cycle.would_act(10_200_000, short(900))  # ratio 0.88: a sell
    assert policy.asked[-1] == 10_200_000


# liabilities around the hedge's own value (where the policies' edges are), and small ones
# (where they close the position)
AROUND = st.one_of(st.integers(850, 1_150).map(lambda per_mille: -per_mille), st.integers(0, 60))


@settings(max_examples=80, deadline=None)
@given(
    use_band=st.booleans(),
    contracts=st.integers(0, 2_000),
    choices=st.lists(AROUND, min_size=1, max_size=60),
)
def test_would_act_answers_as_the_policy_for_any_liabilities(
    use_band: bool, contracts: int, choices: list[int]
) -> None:
    policy: HedgePolicy = BandHedgePolicy() if use_band else StablesatsHedgePolicy()
    cycle = asyncio.run(cycle_after_start(policy))
    position = short(contracts)
    for choice in choices:  # -per mille of the short's value, or thousands of cents
        liability = contracts * 10_000 * -choice // 1_000 if choice < 0 else choice * 1_000
        inputs = HedgeInputs(liability, -contracts * 10_000, CONTRACT_CENTS)
        assert cycle.would_act(liability, position) is not policy.decide(inputs).action.is_hold

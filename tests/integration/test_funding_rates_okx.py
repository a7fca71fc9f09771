"""The funding rate and its history through the OKX adapter (ccxt) against the OKX simulator:
the same answers as the in-process adapter gives over the same engine, the history read page
by page (100 settlements a page) back to the time asked."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.domain.venue import SettledFundingRate
from pegkeeper.sim.settlement import FUNDING_INTERVAL_MS
from tests.okx_sim import running_sim
from tests.okx_world import okx_venue

SWAP = "BTC-USD-SWAP"
SETTLEMENTS = 150  # two pages of OKX's history


async def test_the_rate_and_a_history_of_two_pages_as_the_engine_settled_them() -> None:
    async with running_sim(funding_rate=Decimal("-0.003")) as sim, okx_venue(sim) as venue:
        sim.ticking = False  # the engine's time moves ahead of the clock below
        engine = sim.engine
        in_process = SimFunding(engine, RealClock())
        rate = await venue.funding.funding_rate(SWAP)
        assert rate == await in_process.funding_rate(SWAP)
        assert rate.rate == Decimal("-0.003") and rate.next_rate is None
        assert rate.interval_hours == 8 and rate.funding_time_ms == engine.next_funding_ms(SWAP)
        first_ms = rate.funding_time_ms
        for n in range(SETTLEMENTS):  # the rate of settlement n is -0.003 + n * 0.00001
            engine.set_funding_rate(Decimal("-0.003") + n * Decimal("0.00001"), SWAP)
            engine.set_price(first_ms + n * FUNDING_INTERVAL_MS, sim.price_usd, SWAP)
        expected = [
            SettledFundingRate(
                SWAP, Decimal("-0.003") + n * Decimal("0.00001"), first_ms + n * FUNDING_INTERVAL_MS
            )
            for n in range(SETTLEMENTS)
        ]
        assert await venue.funding.funding_rate_history(SWAP, 0) == expected
        since_ms = first_ms + 140 * FUNDING_INTERVAL_MS
        assert await venue.funding.funding_rate_history(SWAP, since_ms) == expected[140:]
        assert await in_process.funding_rate_history(SWAP, since_ms) == expected[140:]

"""The swap's funding payments read from the venue: OKX's bills of type 8 through the OKX
adapter (ccxt) against the OKX simulator over the wire, page by page, and the simulated venue
in-process; both from the engine's own funding settlements."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.settlement import FUNDING_INTERVAL_MS
from tests.okx_sim import running_sim
from tests.okx_world import okx_venue

SWAP = "BTC-USD-SWAP"
PRICE = Decimal(10_000)


def settle(engine: SimEngine, boundaries: int) -> int:
    """A short of 50 contracts held over `boundaries` funding times; returns the first."""
    now_ms = engine.price_ms(SWAP)
    assert now_ms is not None
    engine.place_market_order("short50", SWAP, OrderSide.SELL, Decimal(50), now_ms)
    first_ms = (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
    engine.set_price(first_ms + (boundaries - 1) * FUNDING_INTERVAL_MS + 1_000, PRICE)
    return first_ms


async def test_okx_bills_of_type_8_are_the_engine_settlements_over_two_pages() -> None:
    async with running_sim(price_usd=PRICE) as sim:
        sim.ticking = False
        first_ms = settle(sim.engine, 105)
        async with okx_venue(sim) as venue:
            found = await venue.funding.funding_payments("BTC", 0)
            # the short receives at the positive default rate: 50 x 100 / 10 000 x 0.0001
            assert len(found) == 105
            assert {p.amount for p in found} == {Decimal("0.00005")}
            assert [p.ts_ms for p in found] == [
                first_ms + n * FUNDING_INTERVAL_MS for n in range(105)
            ]
            assert [p.bill_id for p in found] == [str(n) for n in range(1, 106)]
            assert {(p.instrument_id, p.currency) for p in found} == {(SWAP, "BTC")}
            later = await venue.funding.funding_payments("BTC", found[100].ts_ms)
            assert [p.bill_id for p in later] == ["101", "102", "103", "104", "105"]
            assert await venue.funding.funding_payments("USDT", 0) == []


async def test_the_simulated_venue_reports_the_same_payments_in_process() -> None:
    engine = SimEngine()
    engine.credit_trading(Decimal(1))
    engine.set_price(1_700_000_000_000, PRICE)
    engine.set_funding_rate(Decimal("-0.0003"))
    first_ms = settle(engine, 2)
    funding = SimFunding(engine, ManualClock(first_ms + FUNDING_INTERVAL_MS + 1_000))
    found = await funding.funding_payments("BTC", first_ms + 1)
    # a negative rate: the short pays 50 x 100 / 10 000 x 0.0003 = 0.00015 BTC
    assert [(p.bill_id, p.amount, p.ts_ms) for p in found] == [
        ("2", Decimal("-0.00015"), first_ms + FUNDING_INTERVAL_MS)
    ]

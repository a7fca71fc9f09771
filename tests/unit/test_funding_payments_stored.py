"""The funding manager stores the swap's funding payments the venue booked, once each."""

from __future__ import annotations

from decimal import Decimal

from tests.funding_world import PRICE, funding_world

EIGHT_HOURS_MS = 8 * 3600 * 1000


async def test_the_swap_funding_is_stored_once_each_from_the_periodic_check() -> None:
    world = await funding_world(trading_btc="1", liability_cents=1_000_000, short_contracts=98)
    boundary_ms = (world.now_ms // EIGHT_HOURS_MS + 1) * EIGHT_HOURS_MS
    world.advance((boundary_ms - world.now_ms) / 1000 + 1)
    world.set_price(PRICE)  # settles 08:00: the short of 98 receives 98 x 100 / 10 000 x 0.0001
    await world.service.cycle("periodic")
    await world.service.cycle("periodic")  # read again from the newest stored: nothing new
    stored = [(p.bill_id, p.amount, p.ts_ms) for p in world.store.funding.payments.values()]
    assert stored == [("1", Decimal("0.000098"), boundary_ms)]
    assert world.funding.calls["funding_payments"] == 2

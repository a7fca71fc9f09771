"""The Venue port over the simulated exchange, including its fault switches."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.errors import (
    NotFound,
    OrderRejected,
    PositionAlreadyClosed,
    VenueUnavailable,
    VenueUncertain,
)
from pegkeeper.domain.instruments import BTC_USD_SWAP
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide
from pegkeeper.ports import Venue
from pegkeeper.sim.engine import SimEngine

SWAP = "BTC-USD-SWAP"
T0 = 1_583_971_200_000


def make_venue() -> tuple[SimVenue, ManualClock]:
    clock = ManualClock(start_ms=T0)
    engine = SimEngine()
    engine.credit_trading(D(1))
    venue = SimVenue(engine, clock)
    venue.set_price(D("7000"))
    return venue, clock


def market(client_order_id: str, side: OrderSide, contracts: int) -> OrderIntent:
    return OrderIntent(client_order_id, SWAP, OrderKind.MARKET, side, D(contracts), "d1", "c1", T0)


def close(client_order_id: str) -> OrderIntent:
    return OrderIntent(client_order_id, SWAP, OrderKind.CLOSE_POSITION, None, D(0), "d1", "c1", T0)


async def test_place_look_up_and_close_through_the_port() -> None:
    venue, clock = make_venue()
    port: Venue = venue
    assert await port.instrument(SWAP) == BTC_USD_SWAP
    clock.advance(1)
    report = await port.place_market_order(market("o1", OrderSide.SELL, 10))
    assert report.avg_price_usd == D("6999.5")  # best bid: 7000 - 0.5
    assert report.fills[0].ts_ms == T0 + 1_000
    assert await port.order(SWAP, "o1") == report
    assert (await port.position(SWAP)).size_contracts == -10
    balances = await port.balances("BTC")
    assert balances.trading_equity < 1  # the fee was paid
    closed = await port.close_position(close("c1"))
    assert closed.fills[0].price_usd == D("7000.5")  # a buy takes the best ask
    assert (await port.position(SWAP)).size_contracts == 0
    with pytest.raises(NotFound):
        await port.order(SWAP, "missing")


async def test_a_close_with_no_position_is_position_already_closed_as_at_okx() -> None:
    venue, _ = make_venue()
    with pytest.raises(PositionAlreadyClosed) as flat:
        await venue.close_position(close("c0"))
    assert flat.value.code == "51023"
    await venue.place_market_order(market("o1", OrderSide.SELL, 3))
    await venue.close_position(close("c1"))
    with pytest.raises(PositionAlreadyClosed):
        await venue.close_position(close("c2"))
    assert (await venue.position(SWAP)).size_contracts == 0


async def test_a_timeout_after_accept_leaves_the_order_executed_and_findable() -> None:
    venue, _ = make_venue()
    venue.timeout_after_accept_next()
    with pytest.raises(VenueUncertain):
        await venue.place_market_order(market("o1", OrderSide.SELL, 10))
    found = await venue.order(SWAP, "o1")
    assert found.filled_contracts == 10
    assert (await venue.position(SWAP)).size_contracts == -10
    # Sending it again is refused as a duplicate: it never executes twice.
    with pytest.raises(OrderRejected) as refused:
        await venue.place_market_order(market("o1", OrderSide.SELL, 10))
    assert refused.value.code == "51016"
    assert (await venue.position(SWAP)).size_contracts == -10
    # The switch is one-shot.
    await venue.place_market_order(market("o2", OrderSide.SELL, 1))


async def test_an_injected_failure_has_no_effect_at_the_venue() -> None:
    venue, _ = make_venue()
    venue.fail_next_order_with(VenueUnavailable("rate limited", code="50011"))
    with pytest.raises(VenueUnavailable):
        await venue.place_market_order(market("o1", OrderSide.SELL, 10))
    with pytest.raises(NotFound):
        await venue.order(SWAP, "o1")
    assert (await venue.position(SWAP)).size_contracts == 0
    await venue.place_market_order(market("o1", OrderSide.SELL, 10))
    assert (await venue.position(SWAP)).size_contracts == -10


async def test_position_changes_report_fills_and_liquidations() -> None:
    venue, clock = make_venue()
    changes = venue.position_changes(SWAP)
    await venue.place_market_order(market("o1", OrderSide.SELL, 100))
    first = await asyncio.wait_for(anext(changes), 1)
    assert first.size_contracts == -100
    assert first.liquidation_price_usd is not None
    clock.advance(1)
    venue.set_price(first.liquidation_price_usd + 1)
    liquidated = await asyncio.wait_for(anext(changes), 1)
    assert liquidated.size_contracts == 0
    assert venue.engine.liquidation_count == 1


async def test_transfers_pass_through_with_the_clock_time() -> None:
    venue, clock = make_venue()
    venue.engine.credit_funding(D("0.5"))
    clock.advance(2)
    result = await venue.transfer("t1", D("0.2"), "funding", "trading")
    assert result.ts_ms == T0 + 2_000
    assert (await venue.balances("BTC")).funding_balance == D("0.3")

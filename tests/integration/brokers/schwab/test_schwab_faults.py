"""The Schwab broker when Schwab fails: an order's POST is never sent twice. A timeout after
Schwab took the order leaves exactly one order, found by the lookup; a 5xx is uncertain; a 429
is not processed and pauses every request for its Retry-After."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.adapters.brokers.schwab import SchwabBroker
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.errors import (
    NotFound,
    RateLimited,
    VenueUnavailable,
    VenueUncertain,
)
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.brokers.schwab_server import SchwabServer

from .conftest import AAPL_USD, MakeBroker, intent

BUY = OrderSide.BUY


async def test_a_timeout_after_schwab_took_the_order_leaves_one_order_that_the_lookup_finds(
    server: SchwabServer, make_broker: MakeBroker, logged_in: object, clock: ManualClock
) -> None:
    broker = await make_broker(request_timeout_seconds=0.2)
    hedge = intent("h1", BUY, "5", clock.now_ms())
    server.hang_next("place_order", 30.0)

    with pytest.raises(VenueUncertain, match="may have been processed"):
        await broker.place_order(hedge)

    assert server.requests["place_order"] == 1
    (order_id,) = server.book.orders
    for lookup in (broker, await make_broker()):  # this process, and one started afresh
        found = await lookup.order(hedge)
        assert found.broker_order_id == str(order_id)
        assert found.state is BrokerOrderState.FILLED
        assert found.filled_quantity == Decimal(5)
    assert server.requests["place_order"] == 1
    assert len(server.book.orders) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_to_an_order_is_uncertain_and_not_sent_again(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock, status: int
) -> None:
    hedge = intent("h1", BUY, "5", clock.now_ms())
    server.fail_next("place_order", status)

    with pytest.raises(VenueUncertain) as uncertain:
        await broker.place_order(hedge)

    assert uncertain.value.code == str(status)
    assert server.requests["place_order"] == 1
    with pytest.raises(NotFound):  # this 5xx came before Schwab took it: there is no order
        await broker.order(hedge)
    assert server.book.orders == {}


async def test_a_5xx_to_a_read_is_unavailable(server: SchwabServer, broker: SchwabBroker) -> None:
    server.fail_next("account", 503)

    with pytest.raises(VenueUnavailable) as unavailable:
        await broker.account()

    assert not isinstance(unavailable.value, VenueUncertain)
    assert (await broker.account()).cash_usd == Decimal(100000)


async def test_a_connection_refused_is_not_processed(
    make_broker: MakeBroker, logged_in: object, clock: ManualClock
) -> None:
    broker = await make_broker(base_url="http://127.0.0.1:9")

    with pytest.raises(VenueUnavailable, match="not sent") as refused:
        await broker.place_order(intent("h1", BUY, "5", clock.now_ms()))

    assert not isinstance(refused.value, VenueUncertain)


async def test_a_429_is_not_processed_and_pauses_requests_for_its_retry_after(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    await broker.account()  # the account's hash is known
    server.fail_next("place_order", 429, headers={"Retry-After": "7"})
    hedge = intent("h1", BUY, "5", clock.now_ms())

    with pytest.raises(RateLimited) as limited:
        await broker.place_order(hedge)

    assert limited.value.retry_after_seconds == 7.0
    assert server.book.orders == {}
    before = sum(server.requests.values())
    clock.advance(6)
    with pytest.raises(RateLimited) as paused:
        await broker.place_order(hedge)
    assert paused.value.retry_after_seconds == pytest.approx(1.0)
    assert sum(server.requests.values()) == before  # nothing sent while paused
    clock.advance(1)
    placed = await broker.place_order(hedge)
    assert placed.fills[0].price_usd == AAPL_USD
    assert len(server.book.orders) == 1


async def test_a_retry_after_given_as_an_http_date_is_read(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    # START_MS is 2026-01-05 15:00:00 UTC; the date names 15:00:30
    server.fail_next("account", 429, headers={"Retry-After": "Mon, 05 Jan 2026 15:00:30 GMT"})

    with pytest.raises(RateLimited) as limited:
        await broker.account()

    assert limited.value.retry_after_seconds == 30.0


async def test_a_429_without_retry_after_pauses_one_second(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    server.fail_next("account", 429)

    with pytest.raises(RateLimited) as limited:
        await broker.account()

    assert limited.value.retry_after_seconds is None
    with pytest.raises(RateLimited):
        await broker.account()
    clock.advance(1)
    assert (await broker.account()).account_id == "12345678"

"""The Schwab broker's orders against the local Schwab server: placement with the id from
`Location`, fills (partial, after a cancel, beyond the quantity), rejections, every status."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.adapters.brokers.schwab import SchwabBroker
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.equities.broker import BrokerFill, BrokerOrderState
from pegkeeper.domain.errors import NotFound, OrderRejected
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.brokers.schwab_book import STATUSES
from pegkeeper.sim.brokers.schwab_server import SchwabServer

from .conftest import AAPL_USD, MakeBroker, intent, limit_intent

BUY, SELL = OrderSide.BUY, OrderSide.SELL
WORKING = BrokerOrderState.WORKING
FILLED = BrokerOrderState.FILLED
CANCELED = BrokerOrderState.CANCELED
FAILED = BrokerOrderState.FAILED


def _only_order_id(server: SchwabServer) -> int:
    (order_id,) = server.book.orders
    return order_id


async def test_a_market_order_is_placed_as_schwab_takes_it_and_read_back_filled(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    report = await broker.place_order(intent("h1", BUY, "5", clock.now_ms()))

    order_id = _only_order_id(server)
    sent = server.book.orders[order_id]
    assert (sent.symbol, sent.instruction, sent.quantity) == ("AAPL", "BUY", Decimal(5))
    assert (sent.order_type, sent.session, sent.duration) == ("MARKET", "NORMAL", "DAY")
    assert report.broker_order_id == str(order_id)
    assert report.state is FILLED
    assert report.filled_quantity == Decimal(5)
    assert [(f.quantity, f.price_usd, f.ts_ms) for f in report.fills] == [
        (Decimal(5), AAPL_USD, clock.now_ms())
    ]
    assert server.requests["place_order"] == 1


async def test_an_extended_hours_limit_order_goes_in_the_seamless_session_at_its_price(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    server.book.auto_fill = False

    report = await broker.place_order(limit_intent("h1", "187.13", clock.now_ms()))

    sent = server.book.orders[_only_order_id(server)]
    assert (sent.order_type, sent.session, sent.duration) == ("LIMIT", "SEAMLESS", "DAY")
    assert sent.limit_price_usd == Decimal("187.13")
    assert report.state is WORKING
    assert report.message == "WORKING"


@pytest.mark.parametrize("quantity", ["2.5", "0.000000001"])
async def test_a_fractional_quantity_is_refused_and_nothing_is_sent(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock, quantity: str
) -> None:
    with pytest.raises(OrderRejected, match="whole shares only"):
        await broker.place_order(intent("h1", BUY, quantity, clock.now_ms()))

    assert server.requests["place_order"] == 0
    assert server.book.orders == {}


async def test_partial_fills_are_reported_leg_by_leg_at_their_own_prices(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    server.book.auto_fill = False
    hedge = intent("h1", SELL, "10", clock.now_ms())
    await broker.place_order(hedge)
    order_id = _only_order_id(server)
    clock.advance(2)
    server.book.fill(order_id, Decimal(4), price_usd=Decimal("187.10"), time_ms=clock.now_ms())
    clock.advance(3)
    server.book.fill(order_id, Decimal(2), price_usd=Decimal("187.40"), time_ms=clock.now_ms())

    report = await broker.order(hedge)

    assert report.state is WORKING
    assert [(f.quantity, f.price_usd) for f in report.fills] == [
        (Decimal(4), Decimal("187.10")),
        (Decimal(2), Decimal("187.40")),
    ]
    assert [f.ts_ms for f in report.fills] == [clock.now_ms() - 3000, clock.now_ms()]
    assert len({f.fill_id for f in report.fills}) == 2
    mean = sum(f.quantity * f.price_usd for f in report.fills) / report.filled_quantity
    assert mean == Decimal("187.20")  # (4 x 187.10 + 2 x 187.40) / 6
    assert (await broker.order(hedge)).fills == report.fills  # the same ids every time


async def test_a_canceled_order_keeps_its_partial_fill_and_a_late_one(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    server.book.auto_fill = False
    hedge = intent("h1", BUY, "10", clock.now_ms())
    await broker.place_order(hedge)
    order_id = _only_order_id(server)
    server.book.fill(order_id, Decimal(3), time_ms=clock.now_ms())

    canceled = await broker.cancel_order(hedge)

    assert canceled.state is CANCELED
    assert canceled.filled_quantity == Decimal(3)
    server.book.fill(order_id, Decimal(1), price_usd=Decimal(188), time_ms=clock.now_ms())
    late = await broker.order(hedge)
    assert late.state is CANCELED
    assert late.filled_quantity == Decimal(4)
    assert late.fills[:1] == canceled.fills


async def test_an_order_that_ended_is_not_cancelable(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    hedge = intent("h1", BUY, "1", clock.now_ms())
    await broker.place_order(hedge)

    with pytest.raises(OrderRejected, match="FILLED"):
        await broker.cancel_order(hedge)


async def test_an_over_fill_is_reported_as_filled_with_the_real_quantity(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    server.book.auto_fill = False
    hedge = intent("h1", BUY, "5", clock.now_ms())
    await broker.place_order(hedge)
    server.book.fill(_only_order_id(server), Decimal(6), time_ms=clock.now_ms())

    report = await broker.order(hedge)

    assert report.state is FILLED
    assert report.filled_quantity == Decimal(6)


async def test_a_rejected_order_fails_with_schwabs_reason(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    server.book.auto_fill = False
    hedge = intent("h1", BUY, "5", clock.now_ms())
    await broker.place_order(hedge)
    server.book.set_status(
        _only_order_id(server), "REJECTED", clock.now_ms(), "Insufficient buying power"
    )

    report = await broker.order(hedge)

    assert report.state is FAILED
    assert report.message == "REJECTED: Insufficient buying power"
    assert report.fills == ()


async def test_an_expired_order_fails_with_its_partial_fill(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    server.book.auto_fill = False
    hedge = intent("h1", SELL, "5", clock.now_ms())
    await broker.place_order(hedge)
    order_id = _only_order_id(server)
    server.book.fill(order_id, Decimal(2), price_usd=Decimal("186.5"), time_ms=clock.now_ms())
    server.book.set_status(order_id, "EXPIRED", clock.now_ms())

    report = await broker.order(hedge)

    assert report.state is FAILED
    assert report.fills == (
        BrokerFill(report.fills[0].fill_id, Decimal(2), Decimal("186.5"), clock.now_ms()),
    )


async def test_an_order_refused_at_placement_is_rejected_with_schwabs_message(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    message = "The symbol ZZZZ is not tradable"
    server.fail_next("place_order", 400, body={"message": message, "errors": [message]})

    with pytest.raises(OrderRejected, match=message) as refused:
        await broker.place_order(intent("h1", BUY, "5", clock.now_ms(), symbol="ZZZZ"))

    assert refused.value.code == "400"
    assert server.book.orders == {}


# FILLED -> filled, CANCELED -> canceled, REJECTED and EXPIRED -> failed, everything else
# (documented or not) -> working
EXPECTED_STATE = {"FILLED": FILLED, "CANCELED": CANCELED, "REJECTED": FAILED, "EXPIRED": FAILED}


@pytest.mark.parametrize("status", [*STATUSES, "HELD_FOR_REVIEW_2027"])
async def test_every_status_maps_to_its_state(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock, status: str
) -> None:
    assert len(STATUSES) == 21
    server.book.auto_fill = False
    hedge = intent("h1", BUY, "5", clock.now_ms())
    await broker.place_order(hedge)
    server.book.set_any_status(_only_order_id(server), status, clock.now_ms(), "")

    report = await broker.order(hedge)

    assert report.state is EXPECTED_STATE.get(status, WORKING)
    assert report.message == status


async def test_an_order_placed_by_another_process_is_found_by_its_intent(
    server: SchwabServer, broker: SchwabBroker, make_broker: MakeBroker, clock: ManualClock
) -> None:
    hedge = intent("h1", BUY, "5", clock.now_ms())
    placed = await broker.place_order(hedge)
    clock.advance(30)

    found = await (await make_broker()).order(hedge)

    assert found == placed


async def test_a_previous_order_of_the_same_size_is_not_taken_for_a_lost_one(
    server: SchwabServer, broker: SchwabBroker, make_broker: MakeBroker, clock: ManualClock
) -> None:
    await broker.place_order(intent("h1", BUY, "5", clock.now_ms()))
    clock.advance(10)
    never_sent = intent("h2", BUY, "5", clock.now_ms())

    for lookup in (broker, await make_broker()):
        with pytest.raises(NotFound, match="h2"):
            await lookup.order(never_sent)


async def test_two_intents_of_the_same_size_each_find_their_own_order(
    server: SchwabServer, broker: SchwabBroker, make_broker: MakeBroker, clock: ManualClock
) -> None:
    first = intent("h1", SELL, "2", clock.now_ms())
    await broker.place_order(first)
    clock.advance(60)
    second = intent("h2", SELL, "2", clock.now_ms())
    await broker.place_order(second)
    first_id, second_id = sorted(server.book.orders)

    fresh = await make_broker()

    assert (await fresh.order(second)).broker_order_id == str(second_id)
    assert (await fresh.order(first)).broker_order_id == str(first_id)

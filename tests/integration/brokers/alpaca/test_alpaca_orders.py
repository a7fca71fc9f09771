"""Alpaca orders over real HTTP, Trading API and Broker API: placement, fills from the FILL
activities, partial fills, cancels, over-fills, and the states of the spec's table."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from pegkeeper.adapters.brokers.alpaca import AlpacaBroker
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.errors import NotFound, OrderRejected
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.brokers.alpaca_records import fill, status
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from tests.integration.brokers.alpaca.conftest import AAPL_USD, KEY_ID, SECRET_KEY, intent

D = Decimal
WORKING = BrokerOrderState.WORKING


async def test_a_market_order_goes_out_truncated_to_9_decimals_and_fills(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    placed = await broker.place_order(intent(quantity="1.1234567899"))
    (order,) = alpaca.book.orders.values()
    # 1.1234567899 truncated (never rounded up) to Alpaca's 9 decimals
    assert order.qty == D("1.123456789")
    assert (order.type, order.time_in_force, order.side) == ("market", "day", "buy")
    assert order.client_order_id == "pk-AAPL-1" and not order.extended_hours
    assert (placed.state, placed.broker_order_id, placed.fills) == (WORKING, order.id, ())

    filled = await broker.order(intent(quantity="1.1234567899"))
    assert filled.state is BrokerOrderState.FILLED
    (one,) = filled.fills
    (activity,) = alpaca.book.activities
    assert (one.fill_id, one.quantity, one.price_usd) == (activity.id, D("1.123456789"), AAPL_USD)
    assert one.ts_ms == activity.ts_ms


async def test_an_extended_hours_order_is_a_day_limit_order_at_the_intent_s_price(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    order_intent = intent(
        quantity="2", side=OrderSide.SELL, limit_usd="189.37", extended_hours=True
    )
    placed = await broker.place_order(order_intent)
    (order,) = alpaca.book.orders.values()
    assert (order.type, order.time_in_force, order.extended_hours) == ("limit", "day", True)
    assert order.limit_price == D("189.37")
    # a limit order rests until the market reaches it: still working after a lookup
    assert placed.state is WORKING
    assert (await broker.order(order_intent)).state is WORKING


async def test_what_alpaca_cannot_take_is_refused_before_any_request(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    with pytest.raises(OrderRejected, match=r"quantity 0\.0000000004 truncates to 0\.000000000 at"):
        await broker.place_order(intent(quantity="0.0000000004"))
    with pytest.raises(OrderRejected, match="the extended hours take limit orders only"):
        await broker.place_order(intent(extended_hours=True))
    with pytest.raises(OrderRejected, match="a limit order needs a positive limit_price_usd"):
        await broker.place_order(intent(limit_usd="-1"))
    with pytest.raises(OrderRejected, match="client order id 'xxx"):
        await broker.place_order(intent(client_order_id="x" * 129))
    assert alpaca.requests_by_endpoint == {}


async def test_partial_fills_accumulate_and_a_cancel_keeps_them(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.book.script_next(fill("0.4", "190"), fill("0.35", "191"))  # then it rests
    order_intent = intent(quantity="1")
    await broker.place_order(order_intent)
    first = await broker.order(order_intent)
    assert (first.state, first.filled_quantity) == (WORKING, D("0.4"))
    second = await broker.order(order_intent)
    assert (second.state, second.filled_quantity) == (WORKING, D("0.75"))
    assert [f.price_usd for f in second.fills] == [D(190), D(191)]
    # the first fill keeps its id: stored once, however often it is reported
    assert second.fills[0] == first.fills[0]

    canceled = await broker.cancel_order(order_intent)
    assert canceled.state is BrokerOrderState.CANCELED
    # 0.4 + 0.35 shares stay applied
    assert canceled.filled_quantity == D("0.75") and canceled.fills == second.fills
    with pytest.raises(OrderRejected, match='order is already in "canceled" state'):
        await broker.cancel_order(order_intent)


async def test_a_canceled_order_carries_its_partial_fill(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.book.script_next(fill("0.3"), status("canceled"))
    order_intent = intent(quantity="1")
    await broker.place_order(order_intent)
    assert (await broker.order(order_intent)).state is WORKING
    ended = await broker.order(order_intent)
    assert (ended.state, ended.filled_quantity) == (BrokerOrderState.CANCELED, D("0.3"))
    assert ended.fills[0].price_usd == AAPL_USD


async def test_a_fill_that_races_the_cancel_is_kept(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.book.script_next(fill("0.3", "190"), on_cancel=(fill("0.2", "192"), status("canceled")))
    order_intent = intent(quantity="1")
    await broker.place_order(order_intent)
    await broker.order(order_intent)
    # the cancel is taken (pending_cancel) and a fill of 0.2 arrives before it is done
    canceling = await broker.cancel_order(order_intent)
    assert (canceling.state, canceling.filled_quantity) == (WORKING, D("0.5"))
    ended = await broker.order(order_intent)
    assert (ended.state, ended.filled_quantity) == (BrokerOrderState.CANCELED, D("0.5"))
    assert [(f.quantity, f.price_usd) for f in ended.fills] == [
        (D("0.3"), D(190)),
        (D("0.2"), D(192)),
    ]


async def test_an_over_fill_is_recorded_as_the_broker_reports_it(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.book.script_next(fill("1.5"))
    order_intent = intent(quantity="1")
    await broker.place_order(order_intent)
    report = await broker.order(order_intent)
    assert (report.state, report.filled_quantity) == (BrokerOrderState.FILLED, D("1.5"))


async def test_replaced_suspended_and_calculated_are_not_terminal(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.book.script_next(status("replaced"), status("suspended"), status("calculated"), fill())
    order_intent = intent(quantity="3")
    await broker.place_order(order_intent)
    seen = [(await broker.order(order_intent)).state for _ in range(3)]
    assert seen == [WORKING, WORKING, WORKING]
    report = await broker.order(order_intent)
    assert (report.state, report.filled_quantity) == (BrokerOrderState.FILLED, D(3))


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        ((status("expired"),), BrokerOrderState.FAILED),
        ((status("rejected"),), BrokerOrderState.FAILED),
        ((status("done_for_day"),), BrokerOrderState.FAILED),
        ((status("pending_cancel"),), WORKING),
        ((status("held"),), WORKING),
        ((status("a_status_added_next_year"),), WORKING),
    ],
)
async def test_every_status_maps_as_the_spec_says(
    broker: AlpacaBroker,
    alpaca: AlpacaSimServer,
    steps: tuple[object, ...],
    state: BrokerOrderState,
) -> None:
    alpaca.book.script_next(*steps)  # type: ignore[arg-type]
    await broker.place_order(intent())
    report = await broker.order(intent())
    assert report.state is state
    assert report.message.startswith("alpaca status ")


async def test_an_unknown_client_id_is_not_found(broker: AlpacaBroker) -> None:
    with pytest.raises(NotFound, match="order not found"):
        await broker.order(intent("never-sent"))
    with pytest.raises(NotFound):
        await broker.cancel_order(intent("never-sent"))


async def test_the_simulator_shows_its_orders_and_requests_without_moving_them(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    async with httpx.AsyncClient(base_url=alpaca.url, auth=(KEY_ID, SECRET_KEY)) as client:
        await broker.place_order(intent())
        shown = (await client.get("/sim/v1/orders")).json()
        with pytest.raises(OrderRejected):
            await broker.place_order(intent(side=OrderSide.SELL))  # the same client id again
        again = (await client.get("/sim/v1/orders")).json()
        refused = await client.get("/sim/v1/orders", auth=(KEY_ID, "wrong"))
    (order,) = shown["orders"]
    assert (order["client_order_id"], order["side"], order["qty"]) == ("pk-AAPL-1", "buy", "1")
    assert (order["status"], order["filled_qty"]) == ("accepted", "0")  # not filled by the read
    assert shown["posted"] == {"pk-AAPL-1": 1}
    assert len(again["orders"]) == 1 and again["posted"] == {"pk-AAPL-1": 2}
    assert refused.status_code == 403

"""Schwab's JSON read into pegkeeper's terms: exact decimals, times, fills and their ids, the
matching of a lost order, the market's hours, and answers that cannot be read."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from pegkeeper.adapters.brokers.schwab_oauth import code_from_redirect
from pegkeeper.adapters.brokers.schwab_orders import (
    MalformedAnswer,
    OrderSummary,
    fills_of,
    matching_order,
    ms_of,
    order_id_from_location,
    read_json,
    trading_day_of,
    wire_time,
)
from pegkeeper.domain.equities.broker import BrokerOrderIntent
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide

T0 = 1_767_625_200_000  # 2026-01-05T15:00:00Z


def test_numbers_are_read_from_their_digits_not_through_floats() -> None:
    answer = read_json(b'{"price": 7.5000000000000000000000000375, "quantity": 3}')

    assert answer == {"price": Decimal("7.5000000000000000000000000375"), "quantity": 3}


@pytest.mark.parametrize(
    "text",
    ["2026-01-05T15:00:00+0000", "2026-01-05T15:00:00.000Z", "2026-01-05T10:00:00-05:00"],
)
def test_schwabs_time_forms_are_read_as_unix_ms(text: str) -> None:
    assert ms_of(text) == T0


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(MalformedAnswer, match="with a zone"):
        ms_of("2026-01-05T15:00:00")


def test_query_times_are_written_to_the_millisecond() -> None:
    assert wire_time(T0 + 42) == "2026-01-05T15:00:00.042Z"


@pytest.mark.parametrize(
    ("location", "order_id"),
    [
        ("https://api.schwabapi.com/trader/v1/accounts/ABC/orders/1004000000001", "1004000000001"),
        ("/trader/v1/accounts/ABC/orders/77/", "77"),
        ("https://api.schwabapi.com/trader/v1/accounts/ABC/orders", ""),
        (None, ""),
    ],
)
def test_the_order_id_is_the_end_of_location(location: str | None, order_id: str) -> None:
    assert order_id_from_location(location) == order_id


def test_each_execution_leg_is_a_fill_with_its_own_id_time_and_price() -> None:
    order: dict[str, Any] = {
        "orderId": 9,
        "closeTime": "2026-01-05T15:00:09+0000",
        "orderActivityCollection": [
            {"activityType": "ORDER_ACTION"},
            {
                "activityType": "EXECUTION",
                "activityId": 501,
                "executionLegs": [
                    {
                        "legId": 1,
                        "quantity": 2,
                        "price": Decimal("10.5"),
                        "time": "2026-01-05T15:00:01+0000",
                    },
                    {"legId": 1, "quantity": 1, "price": Decimal("10.75")},
                ],
            },
            {"activityType": "EXECUTION", "executionLegs": [{"quantity": 0, "price": 1}]},
        ],
    }

    fills = fills_of(order)

    assert [(f.fill_id, f.quantity, f.price_usd, f.ts_ms) for f in fills] == [
        ("9-501-1", Decimal(2), Decimal("10.5"), T0 + 1000),
        ("9-501-2", Decimal(1), Decimal("10.75"), T0 + 9000),
    ]


def test_a_leg_without_a_price_is_refused() -> None:
    order = {
        "orderId": 9,
        "enteredTime": "2026-01-05T15:00:00+0000",
        "orderActivityCollection": [
            {"activityType": "EXECUTION", "activityId": 1, "executionLegs": [{"quantity": 1}]}
        ],
    }

    with pytest.raises(MalformedAnswer, match="price is not a number"):
        fills_of(order)


def _summary(order_id: str, entered_ms: int, quantity: int = 5, side: str = "BUY") -> OrderSummary:
    return OrderSummary(order_id, "AAPL", side, Decimal(quantity), Decimal(0), "FILLED", entered_ms)


def test_a_lost_order_is_the_earliest_matching_one_entered_since_its_intent() -> None:
    intent = BrokerOrderIntent("h2", "AAPL", OrderSide.BUY, Decimal(5), T0)
    orders = [
        _summary("1", T0 - 5_000),  # before the intent: another one's
        _summary("2", T0 + 3_000, quantity=4),
        _summary("3", T0 + 2_000, side="SELL"),
        _summary("4", T0 + 9_000),
        _summary("5", T0 + 1_000),
    ]

    assert matching_order(orders, intent, not_before_ms=T0, taken=set()) == orders[4]
    assert matching_order(orders, intent, not_before_ms=T0, taken={"5"}) == orders[3]
    assert matching_order(orders, intent, not_before_ms=T0, taken={"4", "5"}) is None


def test_a_day_open_without_regular_hours_is_refused() -> None:
    answer = {"equity": {"EQ": {"isOpen": True, "sessionHours": {"preMarket": []}}}}

    with pytest.raises(MalformedAnswer, match="no regularMarket"):
        trading_day_of(date(2026, 1, 5), answer)


def test_a_day_with_regular_hours_only_has_no_extended_session() -> None:
    hours = {
        "regularMarket": [
            {"start": "2026-01-05T09:30:00-05:00", "end": "2026-01-05T16:00:00-05:00"}
        ]
    }

    day = trading_day_of(
        date(2026, 1, 5), {"equity": {"EQ": {"isOpen": True, "sessionHours": hours}}}
    )

    assert day is not None
    assert (day.pre_open_ms, day.open_ms) == (T0 - 30 * 60_000, T0 - 30 * 60_000)
    assert day.close_ms == day.post_close_ms == T0 + 6 * 3_600_000


def test_the_code_is_read_decoded_from_the_pasted_address() -> None:
    pasted = "  https://127.0.0.1/?code=C0.b2F1dGg%40&session=ab12\n"

    assert code_from_redirect(pasted, "https://127.0.0.1") == "C0.b2F1dGg@"
    with pytest.raises(InvalidInput, match="no code"):
        code_from_redirect("https://127.0.0.1/?code=a&code=b", "https://127.0.0.1")

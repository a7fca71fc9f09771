"""Alpaca's order statuses and calendar days in pegkeeper's terms, without a server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pegkeeper.adapters.brokers.alpaca_calendar import trading_day
from pegkeeper.adapters.brokers.alpaca_states import STATES, order_report, state_of
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.errors import VenueUnavailable, VenueUncertain

W = BrokerOrderState.WORKING


def utc_ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)


def test_the_spec_s_table_of_states() -> None:
    table = {
        "filled": BrokerOrderState.FILLED,
        "partially_filled": W,
        "canceled": BrokerOrderState.CANCELED,
        "expired": BrokerOrderState.FAILED,
        "rejected": BrokerOrderState.FAILED,
        "done_for_day": BrokerOrderState.FAILED,
        "replaced": W,
        "suspended": W,
        "calculated": W,
        "new": W,
        "accepted": W,
        "pending_new": W,
        "accepted_for_bidding": W,
        "pending_cancel": W,
        "pending_replace": W,
        "stopped": W,
        "held": W,
    }
    assert {status: state_of(status) for status in table} == table
    assert set(table) <= set(STATES)
    assert state_of("a_status_added_next_year") is W
    assert not any(state_of(s).is_terminal for s in ("replaced", "suspended", "calculated"))


def test_an_order_without_fills_reports_none() -> None:
    report = order_report("c-1", {"id": "o-1", "status": "new", "filled_qty": "0"}, [], 0, 60)
    assert (report.state, report.fills, report.broker_order_id) == (W, (), "o-1")


def test_an_answer_that_is_not_a_number_is_not_trusted() -> None:
    with pytest.raises(VenueUncertain, match="filled_qty='1,5': not a number"):
        order_report("c-1", {"id": "o-1", "status": "filled", "filled_qty": "1,5"}, [], 0, 60)


def test_a_calendar_day_without_session_bounds_takes_4_00_and_4_hours_after_the_close() -> None:
    # 3 July 2024, a half day in summer (EDT, UTC-4), in the form without session fields
    day = trading_day({"date": "2024-07-03", "open": "09:30", "close": "13:00"})
    assert day.day == date(2024, 7, 3)
    assert day.pre_open_ms == utc_ms(2024, 7, 3, 8, 0)  # 04:00 EDT
    assert day.open_ms == utc_ms(2024, 7, 3, 13, 30)  # 09:30 EDT
    assert day.close_ms == utc_ms(2024, 7, 3, 17, 0)  # 13:00 EDT
    assert day.post_close_ms == utc_ms(2024, 7, 3, 21, 0)  # 17:00 EDT


def test_session_bounds_are_read_with_or_without_a_colon() -> None:
    day = trading_day(
        {
            "date": "2024-01-10",
            "open": "09:30",
            "close": "16:00",
            "session_open": "07:00",
            "session_close": "1800",
        }
    )
    assert day.pre_open_ms == utc_ms(2024, 1, 10, 12, 0)  # 07:00 EST
    assert day.post_close_ms == utc_ms(2024, 1, 10, 23, 0)  # 18:00 EST


def test_a_calendar_day_that_cannot_be_read_names_what() -> None:
    with pytest.raises(VenueUnavailable, match=r"expected a time as HH:MM or HHMM, got '9\.30'"):
        trading_day({"date": "2024-01-10", "open": "9.30", "close": "16:00"})
    with pytest.raises(VenueUnavailable, match="'close'"):
        trading_day({"date": "2024-01-10", "open": "09:30"})

"""The session at a moment and when it changes, on a calendar written out by hand
(calendar_days.py: EST, Thanksgiving 2026 closed, the half day after it)."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegkeeper.domain.equities.sessions import (
    Session,
    SessionChange,
    always_open,
    calendar_window,
    exchange_time_text,
    next_regular_open_ms,
    next_session_change,
    next_trading_ms,
    session_at,
    trading_day_at,
)
from tests.unit.equities.calendar_days import DAYS, HALF_DAY, utc

REGULAR, EXTENDED, CLOSED = Session.REGULAR, Session.EXTENDED, Session.CLOSED


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (utc(2026, 12, 4, 20, 59), REGULAR),  # Fri 15:59 ET
        (utc(2026, 12, 4, 21), EXTENDED),  # Fri 16:00 ET
        (utc(2026, 12, 5, 0, 59), EXTENDED),  # Fri 19:59 ET
        (utc(2026, 12, 5, 1), CLOSED),  # Fri 20:00 ET
        (utc(2026, 12, 5, 17), CLOSED),  # Sat 12:00 ET
        (utc(2026, 12, 7, 8, 59), CLOSED),  # Mon 03:59 ET
        (utc(2026, 12, 7, 9), EXTENDED),  # Mon 04:00 ET
        (utc(2026, 12, 7, 14, 30), REGULAR),  # Mon 09:30 ET
        (utc(2026, 11, 26, 15), CLOSED),  # Thanksgiving 10:00 ET
        (utc(2026, 11, 27, 17, 59), REGULAR),  # half day 12:59 ET
        (utc(2026, 11, 27, 18), EXTENDED),  # half day 13:00 ET
        (utc(2026, 11, 27, 22), CLOSED),  # half day 17:00 ET
        (utc(2026, 11, 20, 15), CLOSED),  # before the calendar
    ],
)
def test_session_at(moment: int, expected: Session) -> None:
    assert session_at(DAYS, moment) is expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (utc(2026, 12, 5, 17), date(2026, 12, 4)),  # Saturday: Friday's
        (utc(2026, 12, 4, 9), date(2026, 12, 4)),  # Friday 04:00 ET
        (utc(2026, 12, 4, 8, 59), date(2026, 12, 3)),  # Friday 03:59 ET: still Thursday's
        (utc(2026, 11, 26, 15), date(2026, 11, 25)),  # Thanksgiving: Wednesday's
        (utc(2026, 11, 23, 8, 59), None),  # before the calendar
    ],
)
def test_the_day_a_moment_belongs_to(moment: int, expected: date | None) -> None:
    day = trading_day_at(DAYS, moment)
    assert (day.day if day is not None else None) == expected


def test_half_days_are_known_by_their_short_regular_session() -> None:
    assert HALF_DAY.is_half_day
    assert not any(d.is_half_day for d in DAYS if d is not HALF_DAY)
    assert not any(d.is_half_day for d in always_open(date(2026, 12, 5), date(2026, 12, 6)))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (utc(2026, 12, 4, 20, 59), SessionChange(utc(2026, 12, 4, 21), EXTENDED)),
        (utc(2026, 12, 4, 21), SessionChange(utc(2026, 12, 5, 1), CLOSED)),
        (utc(2026, 12, 5, 17), SessionChange(utc(2026, 12, 7, 9), EXTENDED)),
        (utc(2026, 12, 7, 9), SessionChange(utc(2026, 12, 7, 14, 30), REGULAR)),
        # Wednesday evening before Thanksgiving: closed until Friday 04:00 ET
        (utc(2026, 11, 26, 1), SessionChange(utc(2026, 11, 27, 9), EXTENDED)),
        (utc(2026, 11, 27, 15), SessionChange(utc(2026, 11, 27, 18), EXTENDED)),
        (utc(2026, 12, 12, 1), None),  # past the calendar's last day
    ],
)
def test_next_session_change(moment: int, expected: SessionChange | None) -> None:
    assert next_session_change(DAYS, moment) == expected


def test_next_regular_open() -> None:
    saturday = utc(2026, 12, 5, 17)
    assert next_regular_open_ms(DAYS, saturday) == utc(2026, 12, 7, 14, 30)
    monday_open = utc(2026, 12, 7, 14, 30)
    assert next_regular_open_ms(DAYS, monday_open) == utc(2026, 12, 8, 14, 30)  # the next day's
    assert next_regular_open_ms(DAYS, monday_open - 1) == monday_open
    assert next_regular_open_ms(DAYS, utc(2026, 11, 26, 15)) == utc(2026, 11, 27, 14, 30)
    assert next_regular_open_ms(DAYS, utc(2026, 12, 11, 15)) is None


def test_next_trading_moment_depends_on_the_extended_sessions() -> None:
    saturday = utc(2026, 12, 5, 17)
    assert next_trading_ms(DAYS, saturday, extended_hours=False) == utc(2026, 12, 7, 14, 30)
    assert next_trading_ms(DAYS, saturday, extended_hours=True) == utc(2026, 12, 7, 9)
    after_half_day = utc(2026, 11, 27, 23)
    assert next_trading_ms(DAYS, after_half_day, extended_hours=True) == utc(2026, 11, 30, 9)
    assert next_trading_ms(DAYS, utc(2026, 12, 12, 1), extended_hours=True) is None


def test_times_are_worded_on_the_exchange_clock() -> None:
    now = utc(2026, 12, 5, 17)
    assert exchange_time_text(utc(2026, 12, 7, 14, 30), now) == "Mon 09:30 ET"
    assert exchange_time_text(utc(2026, 12, 7, 9), now) == "Mon 04:00 ET"
    # 2026-07-06 is in daylight saving time (UTC-4): 13:30 UTC is 09:30 ET
    assert exchange_time_text(utc(2026, 7, 6, 13, 30), utc(2026, 7, 4, 12)) == "Mon 09:30 ET"
    # six days ahead or more: with the date
    assert exchange_time_text(utc(2026, 12, 14, 14, 30), now) == "Mon 2026-12-14 09:30 ET"


def test_the_calendar_window_starts_the_day_before_on_the_exchange_clock() -> None:
    # 2026-12-05 03:00 UTC is Friday 22:00 ET: Thursday to two weeks after Friday
    assert calendar_window(utc(2026, 12, 5, 3)) == (date(2026, 12, 3), date(2026, 12, 18))


moments = st.integers(min_value=utc(2026, 11, 22, 0), max_value=utc(2026, 12, 12, 6))


@given(moments)
def test_the_session_holds_until_the_next_change(moment: int) -> None:
    change = next_session_change(DAYS, moment)
    now = session_at(DAYS, moment)
    if change is None:
        assert moment >= DAYS[-1].post_close_ms
        return
    assert change.at_ms > moment
    assert session_at(DAYS, change.at_ms - 1) is now
    assert session_at(DAYS, change.at_ms) is change.session is not now


@given(moments)
def test_the_next_regular_open_is_the_first_regular_moment_after_a_gap(moment: int) -> None:
    opens = next_regular_open_ms(DAYS, moment)
    if opens is None:
        assert moment >= DAYS[-1].open_ms
        return
    assert session_at(DAYS, opens) is REGULAR
    assert session_at(DAYS, opens - 1) is not REGULAR
    assert not any(moment < d.open_ms < opens for d in DAYS)

"""The offline NYSE calendar over exchange-calendars' XNYS, checked at the session edges worked
out by hand from the exchange's published hours and 2026 holiday calendar: New York is UTC-5 in
winter (EST) and UTC-4 from 2026-03-08 to 2026-11-01 (EDT); extended hours run 04:00-09:30 and
16:00-20:00 ET (13:00-17:00 ET after a half day's close)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pegkeeper.adapters.calendars.exchange import ExchangeCalendar
from pegkeeper.domain.equities.session_orders import Hold, plan_order
from pegkeeper.domain.equities.sessions import (
    Session,
    TradingDay,
    calendar_window,
    session_at,
)
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide

REGULAR, EXTENDED, CLOSED = Session.REGULAR, Session.EXTENDED, Session.CLOSED
CALENDAR = ExchangeCalendar(date(2026, 1, 1), date(2027, 12, 31))


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * 1000


def day_of(days: list[TradingDay], wanted: date) -> TradingDay:
    return next(d for d in days if d.day == wanted)


async def days(start: date, end: date) -> list[TradingDay]:
    return await CALENDAR.trading_days(start, end)


async def test_friday_evening_to_monday_morning() -> None:
    week = await days(date(2026, 12, 3), date(2026, 12, 8))
    assert [d.day for d in week] == [
        date(2026, 12, 3),
        date(2026, 12, 4),
        date(2026, 12, 7),
        date(2026, 12, 8),
    ]
    expected = [
        (utc(2026, 12, 4, 20, 59), REGULAR),  # Fri 15:59 EST
        (utc(2026, 12, 4, 21), EXTENDED),  # Fri 16:00 EST
        (utc(2026, 12, 5, 0, 59), EXTENDED),  # Fri 19:59 EST
        (utc(2026, 12, 5, 1), CLOSED),  # Fri 20:00 EST
        (utc(2026, 12, 5, 17), CLOSED),  # Sat 12:00 EST
        (utc(2026, 12, 6, 17), CLOSED),  # Sun 12:00 EST
        (utc(2026, 12, 7, 8, 59), CLOSED),  # Mon 03:59 EST
        (utc(2026, 12, 7, 9), EXTENDED),  # Mon 04:00 EST
        (utc(2026, 12, 7, 14, 30), REGULAR),  # Mon 09:30 EST
    ]
    assert [(t, session_at(week, t)) for t, _ in expected] == expected


async def test_thanksgiving_is_closed_all_day() -> None:
    around = await days(date(2026, 11, 25), date(2026, 11, 27))
    assert [d.day for d in around] == [date(2026, 11, 25), date(2026, 11, 27)]
    wednesday = day_of(around, date(2026, 11, 25))
    assert wednesday.post_close_ms == utc(2026, 11, 26, 1)  # Wed 20:00 EST
    for hour in (9, 14, 20):  # Thu 04:00, 09:00, 15:00 EST
        assert session_at(around, utc(2026, 11, 26, hour)) is CLOSED
    assert session_at(around, utc(2026, 11, 26, 14, 30)) is CLOSED  # Thu 09:30 EST
    assert session_at(around, utc(2026, 11, 27, 8, 59)) is CLOSED  # Fri 03:59 EST


async def test_the_day_after_thanksgiving_is_a_half_day() -> None:
    friday = day_of(await days(date(2026, 11, 27), date(2026, 11, 27)), date(2026, 11, 27))
    assert friday == TradingDay(
        day=date(2026, 11, 27),
        pre_open_ms=utc(2026, 11, 27, 9),  # 04:00 EST
        open_ms=utc(2026, 11, 27, 14, 30),  # 09:30 EST
        close_ms=utc(2026, 11, 27, 18),  # 13:00 EST
        post_close_ms=utc(2026, 11, 27, 22),  # 17:00 EST
    )
    assert friday.is_half_day
    assert friday.session_at(utc(2026, 11, 27, 17, 59)) is REGULAR
    assert friday.session_at(utc(2026, 11, 27, 18)) is EXTENDED
    assert friday.session_at(utc(2026, 11, 27, 21, 59)) is EXTENDED
    assert friday.session_at(utc(2026, 11, 27, 22)) is CLOSED


@pytest.mark.parametrize(
    ("day", "pre_open", "open_", "close", "post_close"),
    [
        # spring: Friday 2026-03-06 in EST, Monday 2026-03-09 in EDT (the change: Sun 03-08)
        (
            date(2026, 3, 6),
            utc(2026, 3, 6, 9),
            utc(2026, 3, 6, 14, 30),
            utc(2026, 3, 6, 21),
            utc(2026, 3, 7, 1),
        ),
        (
            date(2026, 3, 9),
            utc(2026, 3, 9, 8),
            utc(2026, 3, 9, 13, 30),
            utc(2026, 3, 9, 20),
            utc(2026, 3, 10, 0),
        ),
        # autumn: Friday 2026-10-30 in EDT, Monday 2026-11-02 in EST (the change: Sun 11-01)
        (
            date(2026, 10, 30),
            utc(2026, 10, 30, 8),
            utc(2026, 10, 30, 13, 30),
            utc(2026, 10, 30, 20),
            utc(2026, 10, 31, 0),
        ),
        (
            date(2026, 11, 2),
            utc(2026, 11, 2, 9),
            utc(2026, 11, 2, 14, 30),
            utc(2026, 11, 2, 21),
            utc(2026, 11, 3, 1),
        ),
    ],
)
async def test_daylight_saving_changes(
    day: date, pre_open: int, open_: int, close: int, post_close: int
) -> None:
    found = day_of(await days(day, day), day)
    assert (found.pre_open_ms, found.open_ms, found.close_ms, found.post_close_ms) == (
        pre_open,
        open_,
        close,
        post_close,
    )


async def test_no_session_on_the_daylight_saving_weekends() -> None:
    spring = await days(date(2026, 3, 6), date(2026, 3, 9))
    autumn = await days(date(2026, 10, 30), date(2026, 11, 2))
    assert [d.day for d in spring] == [date(2026, 3, 6), date(2026, 3, 9)]
    assert [d.day for d in autumn] == [date(2026, 10, 30), date(2026, 11, 2)]


async def test_christmas_eve_half_day_and_new_years_day() -> None:
    season = await days(date(2026, 12, 23), date(2027, 1, 5))
    assert [d.day for d in season] == [
        date(2026, 12, 23),
        date(2026, 12, 24),  # half day
        # Fri 12-25 Christmas
        date(2026, 12, 28),
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        # Fri 2027-01-01 New Year's Day
        date(2027, 1, 4),
        date(2027, 1, 5),
    ]
    eve = day_of(season, date(2026, 12, 24))
    assert (eve.close_ms, eve.post_close_ms) == (utc(2026, 12, 24, 18), utc(2026, 12, 24, 22))
    assert [d.day for d in season if d.is_half_day] == [date(2026, 12, 24)]
    new_year = day_of(season, date(2026, 12, 31))
    assert new_year.close_ms == utc(2026, 12, 31, 21)  # a full day: 16:00 EST
    assert session_at(season, utc(2027, 1, 1, 15)) is CLOSED  # Fri 10:00 EST
    assert session_at(season, utc(2027, 1, 4, 9)) is EXTENDED  # Mon 04:00 EST


async def test_the_hedge_waits_over_new_year_with_the_reason() -> None:
    now = utc(2027, 1, 1, 15)  # Fri 10:00 EST, New Year's Day
    window = await days(*calendar_window(now))
    hold = plan_order(
        window,
        now,
        symbol="AAPL",
        side=OrderSide.BUY,
        reference_usd=Decimal("190.55"),
        extended_hours=False,
        slippage_bps=Decimal(100),
    )
    assert hold == Hold(
        "holiday: market closed until Mon 09:30 ET", utc(2027, 1, 4, 14, 30), CLOSED
    )


async def test_dates_outside_the_span_are_refused() -> None:
    with pytest.raises(InvalidInput, match="covers 2026-01-01 to 2027-12-31"):
        await CALENDAR.trading_days(date(2025, 12, 30), date(2026, 1, 5))
    first_week = await CALENDAR.trading_days(date(2026, 1, 1), date(2026, 1, 5))
    assert [d.day for d in first_week] == [date(2026, 1, 2), date(2026, 1, 5)]  # 01-01: holiday
    with pytest.raises(InvalidInput, match="covers"):
        await CALENDAR.trading_days(date(2027, 12, 30), date(2028, 1, 5))
    with pytest.raises(InvalidInput, match="start 2026-12-05 is after end 2026-12-04"):
        await CALENDAR.trading_days(date(2026, 12, 5), date(2026, 12, 4))
    with pytest.raises(InvalidInput, match="first_day"):
        ExchangeCalendar(date(2027, 1, 1), date(2026, 1, 1))


def test_the_library_calendar_is_built_once_per_span() -> None:
    again = ExchangeCalendar(date(2026, 1, 1), date(2027, 12, 31))
    assert again._calendar is CALENDAR._calendar

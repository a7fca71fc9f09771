"""The always-open calendar: every date a trading day, a regular session around the clock."""

from datetime import UTC, date, datetime

import pytest

from pegkeeper.adapters.calendars.always_open import AlwaysOpenCalendar
from pegkeeper.domain.equities.sessions import Session, session_at
from pegkeeper.domain.errors import InvalidInput


def utc(year: int, month: int, day: int, hour: int) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * 1000


async def test_every_day_is_open_around_the_clock() -> None:
    # Thanksgiving 2026 and the weekend after it: closed at the exchange, open here
    days = await AlwaysOpenCalendar().trading_days(date(2026, 11, 26), date(2026, 11, 29))
    assert [d.day for d in days] == [date(2026, 11, 26 + n) for n in range(4)]
    for moment in (utc(2026, 11, 26, 15), utc(2026, 11, 28, 3), utc(2026, 11, 29, 23)):
        assert session_at(days, moment) is Session.REGULAR


async def test_start_after_end_is_refused() -> None:
    with pytest.raises(InvalidInput, match="start 2026-11-29 is after end 2026-11-26"):
        await AlwaysOpenCalendar().trading_days(date(2026, 11, 29), date(2026, 11, 26))

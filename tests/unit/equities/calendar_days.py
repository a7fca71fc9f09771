"""A NYSE calendar written out by hand for the session tests: Monday 2026-11-23 to Friday
2026-12-11, all in Eastern Standard Time (UTC-5, daylight saving ended on 2026-11-01), without
Thanksgiving (Thursday 2026-11-26) and with its half day (Friday 2026-11-27, closing at 13:00).

EST: 04:00 ET = 09:00 UTC, 09:30 = 14:30, 13:00 = 18:00, 16:00 = 21:00, 17:00 = 22:00,
20:00 = 01:00 UTC the next day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pegkeeper.domain.equities.sessions import TradingDay


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> int:
    """Epoch milliseconds of a UTC wall time."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1000


def _full(month: int, day: int) -> TradingDay:
    # 20:00 ET is 01:00 UTC the next day; the next day of 2026-11-30 is 2026-12-01
    next_month, next_day = (12, 1) if (month, day) == (11, 30) else (month, day + 1)
    return TradingDay(
        day=date(2026, month, day),
        pre_open_ms=utc(2026, month, day, 9),
        open_ms=utc(2026, month, day, 14, 30),
        close_ms=utc(2026, month, day, 21),
        post_close_ms=utc(2026, next_month, next_day, 1),
    )


HALF_DAY = TradingDay(
    day=date(2026, 11, 27),
    pre_open_ms=utc(2026, 11, 27, 9),
    open_ms=utc(2026, 11, 27, 14, 30),
    close_ms=utc(2026, 11, 27, 18),
    post_close_ms=utc(2026, 11, 27, 22),
)

DAYS: list[TradingDay] = [
    _full(11, 23),
    _full(11, 24),
    _full(11, 25),
    HALF_DAY,
    _full(11, 30),
    *(_full(12, d) for d in (1, 2, 3, 4, 7, 8, 9, 10, 11)),
]

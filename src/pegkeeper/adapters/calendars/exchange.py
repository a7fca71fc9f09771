"""The offline NYSE calendar (the MarketCalendar port) from the exchange-calendars library's
XNYS: its sessions give the regular open and close (half days close at 13:00 ET) and skip the
holidays; the extended sessions are pegkeeper's: from 04:00 ET to 4 hours after the regular
close (20:00 ET, 17:00 ET on a half day). Local times are turned into UTC with the zone
database, so the daylight-saving changes fall where they do in New York.

The library builds its calendar for a span of dates, slowly: it is built once per span and
shared; a request outside the span is refused rather than answered as if the exchange were
closed.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import exchange_calendars  # type: ignore[import-untyped]

from pegkeeper.domain.equities.sessions import EXCHANGE_ZONE, TradingDay, check_dates
from pegkeeper.domain.errors import InvalidInput

EXCHANGE = "XNYS"
PRE_OPEN = time(4, 0)  # extended hours begin, ET
POST_CLOSE_AFTER = timedelta(hours=4)  # extended hours end this long after the regular close
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class ExchangeCalendar:
    """The NYSE's trading days from `first_day` to `last_day` (None: the library's default
    span, 20 years back to a year ahead of the day it is built)."""

    name = "exchange"

    def __init__(self, first_day: date | None = None, last_day: date | None = None) -> None:
        if first_day is not None and last_day is not None and first_day > last_day:
            raise InvalidInput(f"first_day {first_day} is after last_day {last_day}")
        self._calendar = _library_calendar(first_day, last_day)
        self.first_day: date = first_day or self._calendar.first_session.date()
        self.last_day: date = last_day or self._calendar.last_session.date()

    async def trading_days(self, start: date, end: date) -> list[TradingDay]:
        return self.days_between(start, end)

    def days_between(self, start: date, end: date) -> list[TradingDay]:
        """The exchange's days from `start` to `end` (both included), oldest first."""
        check_dates(start, end)
        if start < self.first_day or end > self.last_day:
            raise InvalidInput(
                f"the offline {EXCHANGE} calendar covers {self.first_day} to {self.last_day}, "
                f"not {start} to {end}: build ExchangeCalendar with a span that includes them"
            )
        schedule = self._calendar.schedule.loc[start.isoformat() : end.isoformat()]
        return [
            _trading_day(row.Index.date(), row.open, row.close) for row in schedule.itertuples()
        ]


@lru_cache(maxsize=4)
def _library_calendar(first_day: date | None, last_day: date | None) -> Any:
    with warnings.catch_warnings():
        # the library's own use of pandas APIs that pandas has deprecated: not ours to act on
        warnings.simplefilter("ignore", DeprecationWarning)
        return exchange_calendars.get_calendar(EXCHANGE, start=first_day, end=last_day)


def _trading_day(day: date, open_utc: Any, close_utc: Any) -> TradingDay:
    """`open_utc` and `close_utc`: the library's timestamps (UTC) of the regular session."""
    close = close_utc.to_pydatetime()
    close_local = close.astimezone(EXCHANGE_ZONE)
    post_close = datetime.combine(day, close_local.time(), EXCHANGE_ZONE) + POST_CLOSE_AFTER
    return TradingDay(
        day=day,
        pre_open_ms=_ms(datetime.combine(day, PRE_OPEN, EXCHANGE_ZONE)),
        open_ms=_ms(open_utc.to_pydatetime()),
        close_ms=_ms(close),
        post_close_ms=_ms(post_close),
    )


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS

"""The simulated Alpaca's market calendar and clock, as `GET /v2/calendar` (`/v1/calendar`)
and `GET /v2/clock` (`/v1/clock`) answer them: local New York times, daylight saving included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pegkeeper.domain.equities.sessions import EXCHANGE_ZONE as NEW_YORK


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """One day the market opens, in Alpaca's own strings: open and close "HH:MM", the
    extended session's bounds "HHMM"."""

    day: date
    open: str = "09:30"
    close: str = "16:00"
    session_open: str = "0400"
    session_close: str = "2000"

    def as_json(self, settlement: date) -> dict[str, str]:
        return {
            "date": self.day.isoformat(),
            "open": self.open,
            "close": self.close,
            "session_open": self.session_open,
            "session_close": self.session_close,
            "settlement_date": settlement.isoformat(),
        }

    def open_utc(self) -> datetime:
        return _at(self.day, self.open)

    def close_utc(self) -> datetime:
        return _at(self.day, self.close)


def half_day(day: date) -> CalendarDay:
    """An early close: regular hours end at 13:00, extended ones at 17:00."""
    return CalendarDay(day, close="13:00", session_close="1700")


def weekdays(start: date, end: date) -> list[CalendarDay]:
    """A regular day for every Monday to Friday from `start` to `end` (no holidays)."""
    days = []
    day = start
    while day <= end:
        if day.weekday() < 5:
            days.append(CalendarDay(day))
        day += timedelta(days=1)
    return days


def clock_json(calendar: dict[date, CalendarDay], now_ms: int) -> dict[str, object]:
    """The market clock at `now_ms`: open during a regular session, the next open and close."""
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    local_day = now.astimezone(NEW_YORK).date()
    is_open = False
    next_open: datetime | None = None
    next_close: datetime | None = None
    for offset in range(0, 30):
        entry = calendar.get(local_day + timedelta(days=offset))
        if entry is None:
            continue
        if entry.open_utc() <= now < entry.close_utc():
            is_open = True
        if next_close is None and now < entry.close_utc():
            next_close = entry.close_utc()
        if next_open is None and now < entry.open_utc():
            next_open = entry.open_utc()
        if next_open is not None and next_close is not None:
            break
    return {
        "timestamp": local_stamp(now),
        "is_open": is_open,
        "next_open": local_stamp(next_open) if next_open else None,
        "next_close": local_stamp(next_close) if next_close else None,
    }


def local_stamp(moment: datetime) -> str:
    """A time as Alpaca's clock writes it: New York local time with its offset."""
    return moment.astimezone(NEW_YORK).isoformat()


def _at(day: date, hours_minutes: str) -> datetime:
    hour, minute = int(hours_minutes[:2]), int(hours_minutes[-2:])
    return datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK).astimezone(UTC)

"""US equity market sessions (specs/equities.md, "Market sessions"): the records a broker's
calendar or the offline fallback gives, the session at a moment, and when it changes next.

Every time is UTC epoch milliseconds; the calendar sources turn the exchange's local times
(America/New_York, daylight saving included) into them. The exchange's zone is used here only
to word times for people ("Mon 09:30 ET").
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pegkeeper.domain.errors import InvalidInput

EXCHANGE_ZONE = ZoneInfo("America/New_York")
MS_PER_DAY = 86_400_000
# A regular session shorter than 09:30-16:00 is a half day (13:00 close).
FULL_REGULAR_SESSION_MS = 23_400_000
# The calendar a caller asks for around now: the day before (the session past midnight UTC
# belongs to it) and two weeks ahead, beyond any run of closed days the exchange has had.
CALENDAR_DAYS_BEHIND = 1
CALENDAR_DAYS_AHEAD = 14
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Session(StrEnum):
    REGULAR = "regular"  # 09:30-16:00 ET (13:00 on half days): market orders
    EXTENDED = "extended"  # 04:00-09:30 and 16:00-20:00 ET: limit orders, opted-in assets
    CLOSED = "closed"  # nights, weekends, holidays: hold


@dataclass(frozen=True, slots=True)
class TradingDay:
    """One day the exchange opens; a half day has an early `close_ms`."""

    day: date  # the exchange's local date
    pre_open_ms: int  # extended hours begin (04:00 ET)
    open_ms: int  # regular session (09:30 ET)
    close_ms: int  # regular close (16:00 ET, 13:00 on a half day)
    post_close_ms: int  # extended hours end (20:00 ET; 17:00 on a half day)

    def session_at(self, ts_ms: int) -> Session:
        if self.open_ms <= ts_ms < self.close_ms:
            return Session.REGULAR
        if self.pre_open_ms <= ts_ms < self.open_ms or self.close_ms <= ts_ms < self.post_close_ms:
            return Session.EXTENDED
        return Session.CLOSED

    @property
    def is_half_day(self) -> bool:
        return self.close_ms - self.open_ms < FULL_REGULAR_SESSION_MS


@dataclass(frozen=True, slots=True)
class SessionChange:
    at_ms: int
    session: Session  # the session from `at_ms` on


def trading_day_at(days: Sequence[TradingDay], ts_ms: int) -> TradingDay | None:
    """The last of `days` (sorted by date) whose extended hours began at or before `ts_ms`:
    the day `ts_ms` belongs to, or the one before a closed stretch."""
    at = bisect_right([d.pre_open_ms for d in days], ts_ms) - 1
    return days[at] if at >= 0 else None


def session_at(days: Sequence[TradingDay], ts_ms: int) -> Session:
    """The session at `ts_ms` among `days` (sorted by date); CLOSED outside every day."""
    day = trading_day_at(days, ts_ms)
    return day.session_at(ts_ms) if day is not None else Session.CLOSED


def next_session_change(days: Sequence[TradingDay], ts_ms: int) -> SessionChange | None:
    """The first moment after `ts_ms` at which the session differs from the one at `ts_ms`;
    None when `days` end before it."""
    now = session_at(days, ts_ms)
    bounds = sorted(
        b
        for d in days
        for b in (d.pre_open_ms, d.open_ms, d.close_ms, d.post_close_ms)
        if b > ts_ms
    )
    for at_ms in bounds:
        session = session_at(days, at_ms)
        if session is not now:
            return SessionChange(at_ms, session)
    return None


def next_regular_open_ms(days: Sequence[TradingDay], ts_ms: int) -> int | None:
    """The first regular open after `ts_ms` (during a regular session: the next day's);
    None when `days` end before it."""
    return next((d.open_ms for d in days if d.open_ms > ts_ms), None)


def next_trading_ms(days: Sequence[TradingDay], ts_ms: int, *, extended_hours: bool) -> int | None:
    """The first moment after `ts_ms` at which an order may go: the next regular open, or,
    for an asset hedged in the extended sessions, the next moment the market is not closed."""
    if not extended_hours:
        return next_regular_open_ms(days, ts_ms)
    at_ms = ts_ms
    while (change := next_session_change(days, at_ms)) is not None:
        if change.session is not Session.CLOSED:
            return change.at_ms
        at_ms = change.at_ms
    return None


def exchange_time(ts_ms: int) -> datetime:
    """`ts_ms` on the exchange's clock."""
    return (_EPOCH + timedelta(milliseconds=ts_ms)).astimezone(EXCHANGE_ZONE)


def exchange_time_text(ts_ms: int, now_ms: int) -> str:
    """`ts_ms` for people: "Mon 09:30 ET" within the coming week, with its date beyond."""
    local = exchange_time(ts_ms)
    if ts_ms - now_ms < 6 * MS_PER_DAY:
        return local.strftime("%a %H:%M ET")
    return local.strftime("%a %Y-%m-%d %H:%M ET")


def calendar_window(now_ms: int) -> tuple[date, date]:
    """The dates to ask a calendar for (both included) so that the rules here can tell the
    session now, when it changes and whether a closed day follows."""
    today = exchange_time(now_ms).date()
    return (
        today - timedelta(days=CALENDAR_DAYS_BEHIND),
        today + timedelta(days=CALENDAR_DAYS_AHEAD),
    )


def check_dates(start: date, end: date) -> None:
    """A calendar request's dates: `start` no later than `end`."""
    if start > end:
        raise InvalidInput(f"start {start} is after end {end}: expected start <= end")


def always_open(start: date, end: date) -> list[TradingDay]:
    """A calendar with a regular session around the clock, every day from `start` to `end`
    (the dry-run broker's and the demo's: hedges are never held for the market)."""
    first = (start - date(1970, 1, 1)).days
    return [
        TradingDay(
            day=date.fromordinal(start.toordinal() + n),
            pre_open_ms=(first + n) * MS_PER_DAY,
            open_ms=(first + n) * MS_PER_DAY,
            close_ms=(first + n + 1) * MS_PER_DAY,
            post_close_ms=(first + n + 1) * MS_PER_DAY,
        )
        for n in range((end - start).days + 1)
    ]

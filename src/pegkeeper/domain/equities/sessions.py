"""US equity market sessions (specs/equities.md, "Market sessions"): the records a broker's
calendar or the offline fallback gives, and the session at a moment.

Every time is UTC epoch milliseconds; the calendar sources turn the exchange's local times
(America/New_York, daylight saving included) into them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


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


def session_at(days: Sequence[TradingDay], ts_ms: int) -> Session:
    """The session at `ts_ms` among `days` (sorted by date); CLOSED outside every day."""
    starts = [d.pre_open_ms for d in days]
    at = bisect_right(starts, ts_ms) - 1
    return days[at].session_at(ts_ms) if at >= 0 else Session.CLOSED


MS_PER_DAY = 86_400_000


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

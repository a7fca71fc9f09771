"""Alpaca's market calendar and clock in pegkeeper's terms.

A calendar day gives New York local times: `open` and `close` ("HH:MM", the regular session,
an early close on a half day) and, when present, `session_open` and `session_close` ("HHMM"
or "HH:MM", the extended hours). Without them the extended hours are pegkeeper's, as the
offline calendar has them (adapters.calendars.exchange): 04:00 to 4 hours after the close
(20:00, 17:00 on a half day). Each is turned into UTC epoch milliseconds with the zone's rules
of that date, daylight saving included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pegkeeper.adapters.brokers.alpaca_states import time_ms
from pegkeeper.adapters.calendars.exchange import POST_CLOSE_AFTER, PRE_OPEN
from pegkeeper.domain.equities.sessions import EXCHANGE_ZONE, TradingDay
from pegkeeper.domain.errors import VenueUnavailable


@dataclass(frozen=True, slots=True)
class MarketClock:
    """Alpaca's market clock: whether the regular session is open now, and when it next
    opens and closes (UTC epoch ms)."""

    now_ms: int
    is_open: bool
    next_open_ms: int
    next_close_ms: int


def trading_day(entry: Mapping[str, Any]) -> TradingDay:
    """One day of Alpaca's calendar; raises VenueUnavailable naming what could not be read."""
    try:
        day = date.fromisoformat(str(entry["date"]))
        opens = _local_time(str(entry["open"]))
        closes = _local_time(str(entry["close"]))
        session_open = entry.get("session_open")
        session_close = entry.get("session_close")
        pre_open = _local_time(str(session_open)) if session_open else PRE_OPEN
        post_close = (
            _local_time(str(session_close)) if session_close else _shifted(closes, POST_CLOSE_AFTER)
        )
    except (KeyError, ValueError) as error:
        raise VenueUnavailable(
            f"alpaca answered a calendar day that cannot be read ({error}): {dict(entry)}"
        ) from None
    return TradingDay(
        day=day,
        pre_open_ms=_utc_ms(day, pre_open),
        open_ms=_utc_ms(day, opens),
        close_ms=_utc_ms(day, closes),
        post_close_ms=_utc_ms(day, post_close),
    )


def market_clock(answer: Mapping[str, Any]) -> MarketClock:
    stamps = [time_ms(answer.get(k)) for k in ("timestamp", "next_open", "next_close")]
    now_ms, next_open_ms, next_close_ms = stamps
    if now_ms is None or next_open_ms is None or next_close_ms is None:
        raise VenueUnavailable(f"alpaca answered a market clock that cannot be read: {answer}")
    return MarketClock(now_ms, answer.get("is_open") is True, next_open_ms, next_close_ms)


def _local_time(text: str) -> time:
    """ "09:30" or "0930"."""
    digits = text.replace(":", "")
    if len(digits) != 4 or not digits.isdigit():
        raise ValueError(f"expected a time as HH:MM or HHMM, got {text!r}")
    return time(int(digits[:2]), int(digits[2:]))


def _shifted(moment: time, by: timedelta) -> time:
    shifted = datetime.combine(date(2000, 1, 1), moment) + by
    return shifted.time()


def _utc_ms(day: date, local: time) -> int:
    moment = datetime.combine(day, local, tzinfo=EXCHANGE_ZONE).astimezone(UTC)
    return int(moment.timestamp() * 1000)

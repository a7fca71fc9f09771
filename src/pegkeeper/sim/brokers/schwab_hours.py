"""The equity market's hours as Schwab's `GET /marketdata/v1/markets?markets=equity&date=`
writes them: sessionHours with preMarket (07:00-09:30 ET at Schwab), regularMarket (09:30-16:00,
13:00 on a half day) and postMarket (16:00-20:00, 13:00-17:00 on a half day) as ISO times with
the New York offset of the day; weekends and holidays answer isOpen false and no hours."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
PRE_OPEN = time(7, 0)
OPEN = time(9, 30)
CLOSE = time(16, 0)
HALF_DAY_CLOSE = time(13, 0)
POST_CLOSE = time(20, 0)
HALF_DAY_POST_CLOSE = time(17, 0)


def market_hours(day: date, holidays: set[date], half_days: set[date]) -> dict[str, Any]:
    if day.weekday() >= 5 or day in holidays:
        closed = {"date": day.isoformat(), "marketType": "EQUITY", "product": "equity"}
        return {"equity": {"equity": {**closed, "isOpen": False}}}
    half = day in half_days
    close = HALF_DAY_CLOSE if half else CLOSE
    post_close = HALF_DAY_POST_CLOSE if half else POST_CLOSE
    return {
        "equity": {
            "EQ": {
                "date": day.isoformat(),
                "marketType": "EQUITY",
                "product": "EQ",
                "productName": "equity",
                "isOpen": True,
                "sessionHours": {
                    "preMarket": [_span(day, PRE_OPEN, OPEN)],
                    "regularMarket": [_span(day, OPEN, close)],
                    "postMarket": [_span(day, close, post_close)],
                },
            }
        }
    }


def _span(day: date, start: time, end: time) -> dict[str, str]:
    return {
        "start": datetime.combine(day, start, NEW_YORK).isoformat(),
        "end": datetime.combine(day, end, NEW_YORK).isoformat(),
    }

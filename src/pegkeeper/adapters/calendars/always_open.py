"""A market that never closes (`[equities] calendar = "always-open"`): a regular session around
the clock every day, so that hedges are never held for the market (demos, simulations)."""

from __future__ import annotations

from datetime import date

from pegkeeper.domain.equities.sessions import TradingDay, always_open, check_dates


class AlwaysOpenCalendar:
    name = "always-open"

    async def trading_days(self, start: date, end: date) -> list[TradingDay]:
        check_dates(start, end)
        return always_open(start, end)

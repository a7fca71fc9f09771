"""The broker's own calendar, with the offline exchange calendar when the broker does not answer
(specs/equities.md, "Market sessions": the broker's calendar first)."""

from __future__ import annotations

from datetime import date

import structlog

from pegkeeper.domain.equities.sessions import TradingDay
from pegkeeper.domain.errors import VenueError
from pegkeeper.ports import MarketCalendar

log = structlog.get_logger("pegkeeper.equities.calendar")


class FallbackCalendar:
    def __init__(self, primary: MarketCalendar, fallback: MarketCalendar) -> None:
        self._primary = primary
        self._fallback = fallback
        self.fallbacks = 0  # reads the primary did not answer

    async def trading_days(self, start: date, end: date) -> list[TradingDay]:
        try:
            return await self._primary.trading_days(start, end)
        except (VenueError, TimeoutError, OSError) as error:
            self.fallbacks += 1
            log.warning("broker calendar not read; the exchange calendar answers", error=str(error))
            return await self._fallback.trading_days(start, end)

"""The swap's funding payments, stored as the venue booked them, once each (by bill id).

The funding manager keeps them rather than the hedger: they are money booked to the venue's
account, as transfers, deposits and withdrawals are, which this service reads and records for
each settlement currency; and the hedger's order path keeps to the requests a hedge needs."""

from __future__ import annotations

import structlog

from pegkeeper.domain.errors import VenueError
from pegkeeper.ports import Clock, CollateralRepository, FundingVenue

log = structlog.get_logger("pegkeeper.funding")


class FundingPaymentRecorder:
    def __init__(
        self,
        repository: CollateralRepository,
        venue: FundingVenue,
        clock: Clock,
        venue_name: str,
        currency: str,
    ) -> None:
        self._repository = repository
        self._venue = venue
        self._clock = clock
        self._venue_name = venue_name
        self._currency = currency

    async def collect(self) -> int:
        """Reads the payments from the newest one stored on (the venue may book several at
        one time) and stores those not stored yet; returns how many were new. A failed read
        is tried again at the next call."""
        since_ms = await self._repository.last_funding_payment_ms(self._venue_name, self._currency)
        try:
            payments = await self._venue.funding_payments(self._currency, since_ms or 0)
        except (VenueError, OSError, TimeoutError) as error:
            log.warning("funding payments not read", currency=self._currency, error=str(error))
            return 0
        now_ms = self._clock.now_ms()
        return await self._repository.record_funding_payments(self._venue_name, payments, now_ms)

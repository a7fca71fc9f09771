"""A liability read whole from the wallet (a SQL query), polled; each change becomes an event.

The event's id is derived from the ledger's last event and the value read, so a poll repeated
after a crash posts nothing twice; its amount is the difference to the ledger's balance.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from pegkeeper.domain.liability import LiabilityEvent
from pegkeeper.ports import Clock, LedgerStateRepository, LiabilityQuery
from pegkeeper.services.ledger.liability import LiabilityService

log = structlog.get_logger("pegkeeper.ledger")


@dataclass(frozen=True, slots=True)
class SnapshotPollerSettings:
    source: str = "postgres"
    poll_interval_seconds: float = 10.0
    max_backoff_seconds: float = 300.0


class LiabilitySnapshotPoller:
    def __init__(
        self,
        query: LiabilityQuery,
        liability: LiabilityService,
        state: LedgerStateRepository,
        clock: Clock,
        settings: SnapshotPollerSettings,
    ) -> None:
        self._query = query
        self._liability = liability
        self._state = state
        self._clock = clock
        self._settings = settings

    async def run(self) -> None:
        source = self._settings.source
        await self._state.record_start(source, self._clock.now_ms())
        settings = self._settings
        # the query failed or the ledger refused: read again after a pause that doubles
        # from twice the interval; every poll starts again from the first pause
        retrying = AsyncRetrying(
            sleep=self._clock.sleep,
            wait=wait_exponential(
                multiplier=2 * settings.poll_interval_seconds,
                max=settings.max_backoff_seconds,
            ),
            retry=retry_if_exception_type(Exception),
            before_sleep=self._record_failure,
        )
        while True:
            await retrying(self.poll_once)
            await self._clock.sleep(settings.poll_interval_seconds)

    async def poll_once(self) -> LiabilityEvent | None:
        """Read the liability; post the change, if any. Raises LedgerUnavailable when the query
        fails, ConflictError or InvalidInput when the ledger refuses the change."""
        source = self._settings.source
        value_cents = await self._query.liability_cents()
        latest = await self._liability.recent(1)
        balance_cents = latest[0].balance_after_cents if latest else 0
        event = None
        if value_cents != balance_cents:
            last_seq = latest[0].seq if latest else 0
            result = await self._liability.post(
                f"{source}-{last_seq}-{value_cents}",
                value_cents - balance_cents,
                f"{source}: the wallet's liability is {value_cents} cents",
                source=source,
            )
            event = result.event
        await self._state.record_success(source, self._clock.now_ms())
        return event

    async def _record_failure(self, state: RetryCallState) -> None:
        source = self._settings.source
        error = state.outcome.exception() if state.outcome else None
        log.warning("reading the liability failed", source=source, error=str(error))
        await self._state.record_failure(source, self._clock.now_ms(), str(error), stopped=False)

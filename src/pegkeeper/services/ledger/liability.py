"""The liability ledger service: validates a change, appends it, tells the hedger."""

from __future__ import annotations

from dataclasses import dataclass

from pegkeeper.domain.events import TOPIC_LIABILITY, LiabilityChanged, encode_event
from pegkeeper.domain.liability import LedgerEntry, LiabilityEvent, validate_change
from pegkeeper.ports import Bus, Clock, LiabilityRepository
from pegkeeper.services.ids import new_correlation_id
from pegkeeper.services.tracing import tag_correlation


@dataclass(frozen=True, slots=True)
class PostResult:
    event: LiabilityEvent
    created: bool  # False when the id had been posted before (an idempotent repeat)


class LiabilityService:
    def __init__(
        self,
        repository: LiabilityRepository,
        bus: Bus,
        clock: Clock,
        *,
        max_abs_delta_cents: int,
    ) -> None:
        self._repository = repository
        self._bus = bus
        self._clock = clock
        self._max_abs_delta_cents = max_abs_delta_cents

    async def post(
        self, event_id: object, delta_cents: object, memo: object = "", source: str = "api"
    ) -> PostResult:
        """Raises InvalidInput for bad input and ConflictError when the ledger refuses it;
        in both cases nothing is written."""
        entry = self.entry(event_id, delta_cents, memo, source)
        event, created = await self._repository.append(
            entry.change, entry.correlation_id, entry.now_ms
        )
        if created:
            await self.announce(event)  # tags the span with the event's correlation id
        else:
            tag_correlation(event.correlation_id)
        return PostResult(event=event, created=created)

    def entry(
        self, event_id: object, delta_cents: object, memo: object, source: str
    ) -> LedgerEntry:
        """A validated change, stamped, for a caller that appends it in its own transaction
        (an accepted quote); raises InvalidInput."""
        change = validate_change(event_id, delta_cents, memo, source, self._max_abs_delta_cents)
        return LedgerEntry(change, new_correlation_id(), self._clock.now_ms())

    async def announce(self, event: LiabilityEvent) -> None:
        """Tell the hedger about an event appended (created) in the ledger."""
        tag_correlation(event.correlation_id)  # an accepted quote's event is announced here
        await self._bus.publish(TOPIC_LIABILITY, encode_event(_changed(event)))

    async def balance_cents(self) -> int:
        return await self._repository.balance_cents()

    async def recent(self, limit: int = 50) -> list[LiabilityEvent]:
        return await self._repository.recent(limit)


def _changed(event: LiabilityEvent) -> LiabilityChanged:
    return LiabilityChanged(
        seq=event.seq,
        event_id=event.event_id,
        delta_cents=event.delta_cents,
        balance_after_cents=event.balance_after_cents,
        correlation_id=event.correlation_id,
        ts_ms=event.created_at_ms,
    )

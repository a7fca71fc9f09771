"""The outbox relay: publishes the events a unit of work's fast path did not (the bus was
down, the process died between the commit and the publish), and deletes relayed events after
the retention (services/outbox.py holds the rule of one pass).

Every `interval_seconds`, or at once when woken, it relays the unpublished events older than
`grace_seconds` in id order; the grace leaves fresh events to the fast path of the unit that
wrote them (they would be skipped anyway while that unit holds them; the grace saves the
contention). Events are stamped by the writer's clock and compared with this process's, so the
grace is approximate across machines; it only moves when an event is relayed, never whether.

One relay per cluster is enough; it runs under a lease, and two at once (during a handover)
still publish each event once (the claim, adapters/store/outbox_repo.py). Its liveness is its
`progress_ms`: the monotonic time of the last pass that completed.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from pegkeeper.domain.outbox import OutboxBacklog
from pegkeeper.ports import Bus, Store
from pegkeeper.services.outbox import Outbox, relay
from pegkeeper.services.trigger_loop import Trigger, TriggerLoop

log = structlog.get_logger("pegkeeper.outbox_relay")

_LOG_EVERY_FAILURES = 120  # a pass that keeps failing is logged again after this many


@dataclass(frozen=True, slots=True)
class RelaySettings:
    interval_seconds: float = 0.5
    grace_seconds: float = 1.0
    retention_seconds: float = 86_400.0  # relayed events are deleted after this long
    prune_interval_seconds: float = 60.0
    batch_size: int = 500  # events claimed per transaction


@dataclass(frozen=True, slots=True)
class RelayFigures:
    """What the metrics and /readyz read of the relay."""

    relayed_total: int  # since start
    backlog: int  # events not relayed, as of the last pass
    oldest_age_ms: int  # how long the oldest of them had waited then
    pruned_total: int  # since start
    consecutive_failures: int
    progress_ms: int | None  # monotonic time of the last pass that completed


class OutboxRelay:
    def __init__(
        self, store: Store, outbox: Outbox, bus: Bus, settings: RelaySettings | None = None
    ) -> None:
        self.settings = settings or RelaySettings()
        self._store = store
        self._outbox = outbox
        self._bus = bus
        self._clock = outbox.clock
        self._loop = TriggerLoop("outbox-relay", self._clock, self.settings.interval_seconds)
        self._pruned_at_ms: int | None = None
        self.relayed_total = 0
        self.pruned_total = 0
        self.backlog = OutboxBacklog(0, None)
        self.oldest_age_ms = 0
        self.consecutive_failures = 0
        self.progress_ms: int | None = None

    def wake(self) -> None:
        """A pass now rather than at the next interval."""
        self._loop.trigger("wake")

    async def run(self) -> None:
        """Passes until cancelled; a failed one is logged and the next one tries again."""
        await self._loop.run(self._cycle, [])

    async def pass_once(self) -> int:
        """One pass: relays what is due, prunes when due, reads the backlog; returns how many
        events it relayed. Raises what stopped it (the bus's refusal, after the backlog is
        read; the store's error)."""
        now_ms = self._clock.now_ms()
        relayed, refusal = await self._relay_due(now_ms - int(self.settings.grace_seconds * 1000))
        await self._prune_when_due(now_ms)
        self.backlog = await self._outbox.entries.backlog()
        self.oldest_age_ms = self.backlog.oldest_age_ms(now_ms)
        if refusal is not None:
            raise refusal
        self.progress_ms = self._clock.monotonic_ms()
        return relayed

    def figures(self) -> RelayFigures:
        return RelayFigures(
            relayed_total=self.relayed_total,
            backlog=self.backlog.count,
            oldest_age_ms=self.oldest_age_ms,
            pruned_total=self.pruned_total,
            consecutive_failures=self.consecutive_failures,
            progress_ms=self.progress_ms,
        )

    async def _cycle(self, trigger: Trigger) -> None:
        try:
            await self.pass_once()
        except Exception as error:
            self.consecutive_failures += 1
            if self.consecutive_failures % _LOG_EVERY_FAILURES == 1:
                log.warning(
                    "outbox relay pass failed",
                    failures=self.consecutive_failures,
                    error=repr(error),
                )
            return
        self.consecutive_failures = 0

    async def _relay_due(self, created_before_ms: int) -> tuple[int, Exception | None]:
        """Batch after batch until the due events are relayed or the bus refuses one (the
        cutoff is fixed, so events written meanwhile wait for the next pass)."""
        total = 0
        while True:
            batch = await relay(
                self._store,
                self._outbox,
                self._bus,
                limit=self.settings.batch_size,
                created_before_ms=created_before_ms,
            )
            total += batch.published
            self.relayed_total += batch.published
            if batch.error is not None or batch.published < self.settings.batch_size:
                return total, batch.error

    async def _prune_when_due(self, now_ms: int) -> None:
        interval_ms = int(self.settings.prune_interval_seconds * 1000)
        mono_ms = self._clock.monotonic_ms()
        if self._pruned_at_ms is not None and mono_ms - self._pruned_at_ms < interval_ms:
            return
        cutoff_ms = now_ms - int(self.settings.retention_seconds * 1000)
        self.pruned_total += await self._outbox.entries.delete_published_before(cutoff_ms)
        self._pruned_at_ms = mono_ms  # monotonic: a jump of the wall clock moves no schedule

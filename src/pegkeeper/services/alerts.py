"""Alerts: raised by the services, delivered to the operator's webhook, each recorded with
whether it arrived.

A condition (liquidation distance under the floor, a hedge outside its brackets, a stale
feed) raises its alert once, again only after `repeat_after_seconds` while it lasts, and a
`resolved` alert when it clears. One-off events (a deposit lost, a refused funding action, a
failed account check) are sent every time. Delivery runs in the background, one alert after
the other in the order raised, so that a slow webhook never holds up the funding manager;
`drain` waits for what was raised so far. With several venues, each venue's funding manager
raises its alerts through `for_venue`: the same delivery, its titles and conditions its own.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from pegkeeper.domain.collateral import Alert, AlertKind, AlertRecord, Severity
from pegkeeper.ports import AlertSink, Clock, CollateralRepository
from pegkeeper.services.ids import new_correlation_id

log = structlog.get_logger("pegkeeper.alerts")


@dataclass(frozen=True, slots=True)
class AlertSettings:
    liquidation_distance_floor_pct: Decimal = Decimal(20)
    feed_stale_after_seconds: float = 120.0
    hedge_outside_brackets_seconds: float = 300.0
    repeat_after_seconds: float = 1_800.0


@dataclass(slots=True)
class _Active:
    severity: Severity
    sent_ms: int


@dataclass(slots=True)
class _Deliveries:
    """One queue and one worker, shared by an alerter and its venues' (in the order raised)."""

    queue: asyncio.Queue[Alert] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None


class Alerter:
    def __init__(
        self,
        sink: AlertSink,
        repository: CollateralRepository,
        clock: Clock,
        settings: AlertSettings,
    ) -> None:
        self._sink = sink
        self._repository = repository
        self._clock = clock
        self.settings = settings
        self._active: dict[tuple[AlertKind, str], _Active] = {}
        self._deliveries = _Deliveries()
        self.sent: list[Alert] = []
        self.venue = ""  # set on a venue's alerter: its name leads its titles

    def for_venue(self, venue: str) -> Alerter:
        """The alerts of one venue's account, delivered and recorded as this alerter's: titles
        start with the venue's name, details carry it, conditions are the venue's own."""
        scoped = copy.copy(self)  # shares the sink, the deliveries, the conditions, `sent`
        scoped.venue = venue
        return scoped

    def event(
        self,
        kind: AlertKind,
        title: str,
        message: str,
        details: dict[str, str] | None = None,
        correlation_id: str = "",
        severity: Severity = Severity.CRITICAL,
    ) -> Alert:
        """A one-off alert, always sent."""
        return self._send(kind, severity, title, message, details or {}, correlation_id)

    def condition(
        self,
        kind: AlertKind,
        subject: str,
        title: str,
        message: str,
        details: dict[str, str] | None = None,
        severity: Severity = Severity.WARNING,
    ) -> Alert | None:
        """A condition holds: alert unless it was alerted at this severity recently."""
        key = (kind, self._subject(subject))
        now_ms = self._clock.now_ms()
        active = self._active.get(key)
        repeat_ms = self.settings.repeat_after_seconds * 1000
        if active and active.severity == severity and now_ms - active.sent_ms < repeat_ms:
            return None
        self._active[key] = _Active(severity, now_ms)
        return self._send(kind, severity, title, message, details or {}, "")

    def cleared(self, kind: AlertKind, subject: str, title: str, message: str) -> Alert | None:
        """The condition no longer holds: a `resolved` alert if it had been raised."""
        if self._active.pop((kind, self._subject(subject)), None) is None:
            return None
        return self._send(kind, Severity.RESOLVED, title, message, {"subject": subject}, "")

    def is_active(self, kind: AlertKind, subject: str) -> bool:
        return (kind, self._subject(subject)) in self._active

    async def drain(self) -> None:
        """Wait until every alert raised so far was delivered (or failed) and recorded."""
        await self._deliveries.queue.join()

    async def close(self) -> None:
        await self.drain()
        if self._deliveries.worker is not None:
            self._deliveries.worker.cancel()

    def _subject(self, subject: str) -> str:
        return f"{self.venue}: {subject}" if self.venue else subject

    def _send(
        self,
        kind: AlertKind,
        severity: Severity,
        title: str,
        message: str,
        details: dict[str, str],
        correlation_id: str,
    ) -> Alert:
        if self.venue:
            title, details = f"{self.venue}: {title}", {"venue": self.venue, **details}
        alert = Alert(
            alert_id=new_correlation_id(),
            kind=kind,
            severity=severity,
            title=title,
            message=message,
            created_at_ms=self._clock.now_ms(),
            correlation_id=correlation_id or new_correlation_id(),
            details=details,
        )
        self.sent.append(alert)
        deliveries = self._deliveries
        deliveries.queue.put_nowait(alert)
        if deliveries.worker is None or deliveries.worker.done():
            deliveries.worker = asyncio.get_running_loop().create_task(self._deliver_all())
        return alert

    async def _deliver_all(self) -> None:
        queue = self._deliveries.queue
        while True:
            alert = await queue.get()
            try:
                await self._deliver(alert)
            finally:
                queue.task_done()

    async def _deliver(self, alert: Alert) -> None:
        delivered, error = True, ""
        try:
            await self._sink.deliver(alert)
        except Exception as failure:  # a webhook down must not lose the record
            delivered, error = False, str(failure)
            log.warning("alert not delivered", kind=alert.kind.value, error=error)
        try:
            await self._repository.record_alert(AlertRecord(alert, delivered, error))
        except Exception:
            log.exception("alert not recorded", kind=alert.kind.value, title=alert.title)

"""Alerts: raised by the services, delivered to the operator's webhook, each recorded with
whether it arrived.

A condition (liquidation distance under the floor, a hedge outside its brackets, a stale
feed) raises its alert once, again only after `repeat_after_seconds` while it lasts, and a
`resolved` alert when it clears. One-off events (a deposit lost, a refused funding action, a
failed account check) are sent every time. Delivery runs in the background, one alert after
the other in the order raised, so that a slow webhook never holds up the funding manager;
`drain` waits for what was raised so far.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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
        self._queue: asyncio.Queue[Alert] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.sent: list[Alert] = []

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
        key = (kind, subject)
        now_ms = self._clock.now_ms()
        active = self._active.get(key)
        repeat_ms = self.settings.repeat_after_seconds * 1000
        if active and active.severity == severity and now_ms - active.sent_ms < repeat_ms:
            return None
        self._active[key] = _Active(severity, now_ms)
        return self._send(kind, severity, title, message, details or {}, "")

    def cleared(self, kind: AlertKind, subject: str, title: str, message: str) -> Alert | None:
        """The condition no longer holds: a `resolved` alert if it had been raised."""
        if self._active.pop((kind, subject), None) is None:
            return None
        return self._send(kind, Severity.RESOLVED, title, message, {"subject": subject}, "")

    def is_active(self, kind: AlertKind, subject: str) -> bool:
        return (kind, subject) in self._active

    async def drain(self) -> None:
        """Wait until every alert raised so far was delivered (or failed) and recorded."""
        await self._queue.join()

    async def close(self) -> None:
        await self.drain()
        if self._worker is not None:
            self._worker.cancel()

    def _send(
        self,
        kind: AlertKind,
        severity: Severity,
        title: str,
        message: str,
        details: dict[str, str],
        correlation_id: str,
    ) -> Alert:
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
        self._queue.put_nowait(alert)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._deliveries())
        return alert

    async def _deliveries(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await self._deliver(alert)
            finally:
                self._queue.task_done()

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

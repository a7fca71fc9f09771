"""Alerts to a webhook: a JSON POST in Slack's, Discord's or Telegram's format, or the alert
itself as JSON. The URL usually carries a token, so it never appears in a log or an error.

- slack: {"text": ...} (an incoming webhook);
- discord: {"content": ..., "username": "pegkeeper"} (a channel webhook; 2 000 characters);
- telegram: {"chat_id": ..., "text": ...} to https://api.telegram.org/bot<token>/sendMessage;
- json: every field of the alert, `details` as an object of strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from pegkeeper.domain.collateral import Alert

log = structlog.get_logger("pegkeeper.alerts")

Format = Literal["slack", "discord", "telegram", "json"]
DISCORD_LIMIT = 2_000


class AlertDeliveryError(Exception):
    """The webhook did not take the alert; says why, never where."""


@dataclass(frozen=True)
class WebhookSettings:
    url: str = field(repr=False)
    format: Format = "json"
    telegram_chat_id: str = ""
    timeout_seconds: float = 5.0
    attempts: int = 3  # server errors and lost connections are retried; 4xx answers are not
    backoff_seconds: float = 0.2


class WebhookAlertSink:
    def __init__(self, settings: WebhookSettings) -> None:
        if not settings.url:
            raise ValueError("a webhook alert sink needs a URL")
        if settings.format == "telegram" and not settings.telegram_chat_id:
            raise ValueError("the telegram format needs [alerts] telegram_chat_id")
        self._settings = settings
        self._client = httpx.AsyncClient(timeout=settings.timeout_seconds)

    async def close(self) -> None:
        await self._client.aclose()

    async def deliver(self, alert: Alert) -> None:
        body = payload(alert, self._settings.format, self._settings.telegram_chat_id)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.attempts),
            wait=wait_exponential(multiplier=self._settings.backoff_seconds),
            retry=retry_if_exception_type(_TryAgain),
            reraise=True,
        )
        try:
            await retrying(self._post, body)
        except _TryAgain as error:
            raise AlertDeliveryError(str(error)) from None

    async def _post(self, body: dict[str, Any]) -> None:
        try:
            response = await self._client.post(self._settings.url, json=body)
        except httpx.HTTPError as error:
            raise _TryAgain(f"no answer from the webhook ({type(error).__name__})") from None
        if response.status_code < 300:
            return
        why = f"the webhook answered HTTP {response.status_code}"
        if response.status_code >= 500 or response.status_code == 429:
            raise _TryAgain(why)
        raise AlertDeliveryError(why)


class _TryAgain(Exception):
    """A server error, a rate limit or a lost connection: the alert may be taken later."""


def text_of(alert: Alert) -> str:
    lines = [f"[{alert.severity.value}] {alert.title}", alert.message]
    lines += [f"{key}: {value}" for key, value in sorted(alert.details.items())]
    return "\n".join(lines)


def payload(alert: Alert, format: Format, telegram_chat_id: str = "") -> dict[str, Any]:
    if format == "slack":
        return {"text": text_of(alert)}
    if format == "discord":
        return {"content": text_of(alert)[:DISCORD_LIMIT], "username": "pegkeeper"}
    if format == "telegram":
        return {"chat_id": telegram_chat_id, "text": text_of(alert), "disable_notification": False}
    return {
        "alert_id": alert.alert_id,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "title": alert.title,
        "message": alert.message,
        "created_at_ms": alert.created_at_ms,
        "correlation_id": alert.correlation_id,
        "details": dict(alert.details),
    }


class LogAlertSink:
    """No webhook configured: the alert goes to the log (and the store, by the caller)."""

    async def deliver(self, alert: Alert) -> None:
        log.warning(
            "alert",
            kind=alert.kind.value,
            severity=alert.severity.value,
            title=alert.title,
            message=alert.message,
            **alert.details,
        )
        raise AlertDeliveryError("no webhook configured: logged only")

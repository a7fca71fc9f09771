"""The alert webhook against a local HTTP server that records every request it receives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from pegkeeper.adapters.alerts.webhook import (
    AlertDeliveryError,
    WebhookAlertSink,
    WebhookSettings,
)
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.collateral import Alert, AlertKind, Severity
from pegkeeper.services.alerts import Alerter, AlertSettings

SECRET_PATH = "/hooks/T000/B000/secret-token-xyz"


@dataclass
class Recorder:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    # answered in order, then 200; DROP closes the connection without an answer
    statuses: list[int] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(
            {
                "path": request.path,
                "content_type": request.content_type,
                "body": orjson.loads(await request.read()),
            }
        )
        status = self.statuses.pop(0) if self.statuses else 200
        if status == DROP:
            assert request.transport is not None
            request.transport.close()
        return web.Response(status=status, text="ok" if status == 200 else "no")


DROP = 0


@asynccontextmanager
async def recorder() -> AsyncIterator[Recorder]:
    found = Recorder()
    app = web.Application()
    app.router.add_post("/{tail:.*}", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"http://127.0.0.1:{port}{SECRET_PATH}"
    try:
        yield found
    finally:
        await runner.cleanup()


ALERT = Alert(
    alert_id="a1",
    kind=AlertKind.LIQUIDATION_DISTANCE,
    severity=Severity.CRITICAL,
    title="liquidation 14.20 % away",
    message="the BTC account is 14.20 % from liquidation",
    created_at_ms=1_700_000_000_000,
    correlation_id="c1",
    details={"mark_price_usd": "7938.39", "leverage": "7.5"},
)
TEXT = (
    "[critical] liquidation 14.20 % away\n"
    "the BTC account is 14.20 % from liquidation\n"
    "leverage: 7.5\nmark_price_usd: 7938.39"
)


@pytest.mark.parametrize(
    ("format", "expected"),
    [
        ("slack", {"text": TEXT}),
        ("discord", {"content": TEXT, "username": "pegkeeper"}),
        ("telegram", {"chat_id": "-100123", "text": TEXT, "disable_notification": False}),
        (
            "json",
            {
                "alert_id": "a1",
                "kind": "liquidation_distance",
                "severity": "critical",
                "title": "liquidation 14.20 % away",
                "message": "the BTC account is 14.20 % from liquidation",
                "created_at_ms": 1_700_000_000_000,
                "correlation_id": "c1",
                "details": {"mark_price_usd": "7938.39", "leverage": "7.5"},
            },
        ),
    ],
)
async def test_each_format_is_posted_as_json(format: Any, expected: dict[str, Any]) -> None:
    async with recorder() as server:
        sink = WebhookAlertSink(WebhookSettings(server.url, format, telegram_chat_id="-100123"))
        try:
            await sink.deliver(ALERT)
        finally:
            await sink.close()
        (request,) = server.received
        assert request["path"] == SECRET_PATH and request["content_type"] == "application/json"
        assert request["body"] == expected


async def test_server_errors_are_retried_and_client_errors_are_not() -> None:
    async with recorder() as server:
        sink = WebhookAlertSink(WebhookSettings(server.url, "slack", backoff_seconds=0.01))
        try:
            server.statuses = [500, 503]
            await sink.deliver(ALERT)
            assert len(server.received) == 3  # two failures, then delivered
            server.statuses = [404]
            with pytest.raises(AlertDeliveryError, match="HTTP 404") as refused:
                await sink.deliver(ALERT)
            assert len(server.received) == 4
            assert "secret-token" not in str(refused.value)
        finally:
            await sink.close()


async def test_rate_limits_and_lost_connections_are_retried_and_redirects_are_not() -> None:
    async with recorder() as server:
        sink = WebhookAlertSink(WebhookSettings(server.url, "slack", backoff_seconds=0.01))
        try:
            server.statuses = [429, DROP]
            await sink.deliver(ALERT)
            assert len(server.received) == 3
            server.statuses = [302]
            with pytest.raises(AlertDeliveryError, match="HTTP 302"):
                await sink.deliver(ALERT)
            assert len(server.received) == 4
        finally:
            await sink.close()


async def test_delivery_stops_after_the_attempts_with_the_last_failure() -> None:
    async with recorder() as server:
        settings = WebhookSettings(server.url, "slack", attempts=3, backoff_seconds=0.1)
        sink = WebhookAlertSink(settings)
        try:
            server.statuses = [503, 500, DROP, 200]
            started = asyncio.get_running_loop().time()
            with pytest.raises(AlertDeliveryError) as failed:
                await sink.deliver(ALERT)
            waited = asyncio.get_running_loop().time() - started
            assert len(server.received) == 3
            assert str(failed.value).startswith("no answer from the webhook (")
            assert waited >= 0.1 + 0.2  # the pause doubles: 0.1 s, then 0.2 s
            assert type(failed.value) is AlertDeliveryError
        finally:
            await sink.close()


async def test_alerts_are_delivered_and_recorded_with_the_outcome(store: SqlStore) -> None:
    async with recorder() as server:
        sink = WebhookAlertSink(WebhookSettings(server.url, "json", attempts=1))
        clock = ManualClock(1_700_000_000_000)
        alerter = Alerter(sink, store.funding, clock, AlertSettings(repeat_after_seconds=600))
        try:
            alerter.condition(AlertKind.FEED_STALE, "okx books", "okx books stale", "40 s")
            alerter.condition(AlertKind.FEED_STALE, "okx books", "okx books stale", "50 s")
            await alerter.drain()
            clock.advance(600)
            server.statuses = [500]
            alerter.condition(AlertKind.FEED_STALE, "okx books", "okx books stale", "640 s")
            alerter.cleared(AlertKind.FEED_STALE, "okx books", "okx books fresh again", "")
            await alerter.drain()
        finally:
            await sink.close()
        # the repeat within 600 s was not sent; the one after was, and failed; then resolved
        assert [r["body"]["message"] for r in server.received] == ["40 s", "640 s", ""]
        records = list(reversed(await store.funding.recent_alerts(10)))
        assert [(r.alert.severity, r.delivered) for r in records] == [
            (Severity.WARNING, True),
            (Severity.WARNING, False),
            (Severity.RESOLVED, True),
        ]
        assert records[1].error == "the webhook answered HTTP 500"


def test_a_telegram_sink_needs_its_chat_and_a_url() -> None:
    with pytest.raises(ValueError, match="telegram_chat_id"):
        WebhookAlertSink(WebhookSettings("http://127.0.0.1:1/x", "telegram"))
    with pytest.raises(ValueError, match="needs a URL"):
        WebhookAlertSink(WebhookSettings("", "json"))

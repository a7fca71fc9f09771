"""Tracing of a process (`[tracing]`): spans exported over OTLP/HTTP when an endpoint is set.

With `otlp_endpoint` empty nothing is installed and OpenTelemetry's API stays on its no-op
tracer, so the spans of the services cost next to nothing. Once a provider is installed the
HTTP API traces its requests (FastAPI's own telemetry, api/http/tracing.py); the gRPC
interceptor is added by bootstrap/pricing.py on the same setting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from pegkeeper.bootstrap.cluster import process_name
from pegkeeper.config import Settings

log = structlog.get_logger("pegkeeper.tracing")

TRACES_PATH = "/v1/traces"

Shutdown = Callable[[], Awaitable[None]]


def configure_tracing(settings: Settings) -> Shutdown | None:
    """Installs the tracer provider of this process, once, at start. Returns the shutdown that
    exports the spans still buffered (await it on the way out), or None when tracing is off."""
    tracing = settings.tracing
    if not tracing.otlp_endpoint:
        return None
    resource = Resource.create(
        {
            SERVICE_NAME: tracing.service_name,
            SERVICE_INSTANCE_ID: process_name(settings),
        }
    )
    provider = TracerProvider(resource=resource)
    url = traces_url(tracing.otlp_endpoint)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    trace.set_tracer_provider(provider)
    log.info("tracing on", endpoint=url, service_name=tracing.service_name)

    async def shutdown() -> None:
        # The exporter posts with blocking requests: off the event loop.
        await asyncio.to_thread(provider.shutdown)

    return shutdown


def traces_url(endpoint: str) -> str:
    """The collector's traces URL: `endpoint` is its base ("http://host:4318"), as the setting
    documents, or already the full URL."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH

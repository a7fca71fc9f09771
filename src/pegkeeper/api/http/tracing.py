"""Tracing of the HTTP API: FastAPI's own OpenTelemetry support.

FastAPI opens a server span per request (continuing the caller's `traceparent`, named by the
route) whenever a tracer provider is installed (bootstrap/tracing.py), and does nothing
otherwise. pegkeeper's `[tracing]` setting is the one switch: FastAPI's own setup from the
environment stays off.
"""

from __future__ import annotations

from fastapi.telemetry import TelemetryConfig
from starlette.types import Scope

# The probes would bury the requests worth reading; an event stream lasts as long as a
# dashboard stays open, one span for hours.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/api/v1/events"})
UNTRACED_PREFIXES = ("/static/",)


def untraced(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return path in UNTRACED_PATHS or path.startswith(UNTRACED_PREFIXES)


TELEMETRY: TelemetryConfig = {
    "tracing": True,
    "operation_spans": False,  # dependencies, endpoint, serialization: one span is enough
    "auto_configure": False,
    "exclude": untraced,
}

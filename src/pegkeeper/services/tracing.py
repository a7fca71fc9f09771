"""Spans of the services and the entry points, on OpenTelemetry's API only.

Without a tracer provider installed (bootstrap/tracing.py, `[tracing] otlp_endpoint` empty) the
API's no-op tracer answers: spans are not recorded and attributes are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace

# The audit trail's id (a liability event's, and its decisions', orders' and fills'), so that
# a trace and `/api/v1/audit/{correlation_id}` point at each other.
CORRELATION_ID = "pegkeeper.correlation_id"

_bound: list[tuple[trace.TracerProvider, trace.Tracer]] = []


def tracer() -> trace.Tracer:
    """pegkeeper's tracer from the provider installed now (before one is: the no-op one)."""
    # Asked per span: a tracer taken once would stay bound to the first provider (tests
    # install several), and the SDK's get_tracer is too slow to call each time.
    provider = trace.get_tracer_provider()
    if not _bound or _bound[0][0] is not provider:
        _bound[:] = [(provider, provider.get_tracer("pegkeeper"))]
    return _bound[0][1]


def tag_correlation(correlation_id: str) -> None:
    """Puts the correlation id on the span handling it now (if one is recording)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(CORRELATION_ID, correlation_id)


@contextmanager
def traced(name: str, correlation_id: str = "") -> Iterator[trace.Span]:
    """A span around a unit of work, the current one while it runs."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        yield trace.INVALID_SPAN  # tracing off: not even the no-op span's context switch
        return
    attributes = {CORRELATION_ID: correlation_id} if correlation_id else None
    with tracer().start_as_current_span(name, attributes=attributes) as span:
        yield span

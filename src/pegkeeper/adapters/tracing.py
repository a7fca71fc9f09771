"""Trace context across processes for the adapters: W3C `traceparent` / `tracestate` headers in
bus messages and outgoing HTTP requests.

A bus adapter puts `current_trace_headers()` beside a message it publishes, and a consumer
handles the message inside `consumer_span(topic, headers)` (or `remote_context(headers)`), so
the consumer's spans join the publisher's trace. With tracing off (no tracer provider) the
headers are empty and the spans are the API's no-op ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from opentelemetry import context, propagate, trace

_bound: list[tuple[trace.TracerProvider, trace.Tracer]] = []


def _tracer() -> trace.Tracer:
    # As services.tracing.tracer: bound again when another provider is installed.
    provider = trace.get_tracer_provider()
    if not _bound or _bound[0][0] is not provider:
        _bound[:] = [(provider, provider.get_tracer("pegkeeper.adapters"))]
    return _bound[0][1]


def current_trace_headers() -> dict[str, str]:
    """The current span's context as W3C trace headers; empty without a span."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


@contextmanager
def remote_context(headers: Mapping[str, str]) -> Iterator[None]:
    """The context carried by `headers` (from `current_trace_headers` in another process) is
    the current one inside the block: spans started there continue that trace."""
    if not headers:
        yield
        return
    token = context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def consumer_span(topic: str, headers: Mapping[str, str]) -> Iterator[trace.Span]:
    """A consumer's span handling one message of `topic`, child of the publisher's span."""
    parent = propagate.extract(headers) if headers else None
    with _tracer().start_as_current_span(
        f"{topic} process",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.destination.name": topic, "messaging.operation.type": "process"},
    ) as span:
        yield span


async def _inject_trace_headers(request: httpx.Request) -> None:
    request.headers.update(current_trace_headers())


def trace_event_hooks() -> dict[str, list[Callable[..., Any]]]:
    """`event_hooks` for an `httpx.AsyncClient` whose requests carry the current trace context
    to the server (a service of ours, or one that joins our traces)."""
    return {"request": [_inject_trace_headers]}

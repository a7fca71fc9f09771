"""Trace context across processes: the bus helpers carry a trace from a publisher to a consumer
in another context, and outgoing HTTP requests carry it to the server."""

from __future__ import annotations

import contextvars

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from pegkeeper.adapters.tracing import (
    consumer_span,
    current_trace_headers,
    remote_context,
    trace_event_hooks,
)
from pegkeeper.services.tracing import traced
from tests.tracing_support import named, recording


def test_bus_headers_carry_the_trace_to_a_consumer_elsewhere() -> None:
    with recording() as spans:
        with traced("publish") as publisher:
            headers = current_trace_headers()
        assert set(headers) >= {"traceparent"}

        def consume() -> None:
            assert not trace.get_current_span().get_span_context().is_valid  # another "process"
            with consumer_span("liability", headers):
                pass
            with remote_context(headers), traced("handle"):
                pass

        contextvars.Context().run(consume)
    trace_id = publisher.get_span_context().trace_id
    consumer = named(spans, "liability process")
    assert consumer.kind is SpanKind.CONSUMER and consumer.context.trace_id == trace_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == publisher.get_span_context().span_id
    handled = named(spans, "handle")
    assert handled.context.trace_id == trace_id and handled.parent is not None
    assert handled.parent.span_id == publisher.get_span_context().span_id


def test_a_message_without_headers_starts_its_own_trace() -> None:
    with recording() as spans:
        with remote_context({}), traced("handle"):
            pass
        with consumer_span("liability", {}):
            pass
    assert all(s.parent is None for s in spans.get_finished_spans())
    assert len(spans.get_finished_spans()) == 2


async def test_outgoing_requests_carry_the_trace_context() -> None:
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200)

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport, event_hooks=trace_event_hooks()) as http:
        await http.get("http://ledger.test/")  # no span
        with recording(), traced("poll") as span:
            await http.get("http://ledger.test/")
    assert "traceparent" not in seen[0]
    trace_id = f"{span.get_span_context().trace_id:032x}"
    assert seen[1]["traceparent"].split("-")[1] == trace_id

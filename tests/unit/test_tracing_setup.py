"""configure_tracing: nothing installed while `[tracing] otlp_endpoint` is empty; the endpoint
is the collector's base URL."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from pegkeeper.adapters.tracing import current_trace_headers
from pegkeeper.bootstrap.tracing import configure_tracing, traces_url
from pegkeeper.config import Settings
from pegkeeper.services.tracing import traced


def test_tracing_off_installs_nothing() -> None:
    assert configure_tracing(Settings()) is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert current_trace_headers() == {}
    with traced("hedge.cycle", "c1") as span:
        assert not span.is_recording()
        assert current_trace_headers() == {}  # the no-op span has no context to carry


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
    ],
)
def test_the_endpoint_is_the_collector_base(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url

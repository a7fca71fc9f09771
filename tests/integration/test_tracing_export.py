"""Traces over real wires: gRPC calls carrying `traceparent` metadata, and spans exported by
the OTLP/HTTP exporter to a local collector endpoint."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from pegkeeper.adapters.tracing import consumer_span, current_trace_headers
from pegkeeper.api.grpc.pb import price_pb2
from pegkeeper.api.grpc.timing import LatencyInterceptor
from pegkeeper.api.grpc.tracing import TracingInterceptor
from pegkeeper.bootstrap.pricing import Pricing, price_servers
from pegkeeper.bootstrap.tracing import configure_tracing
from pegkeeper.config import Settings
from pegkeeper.config.cluster import ClusterSettings, TracingSettings
from pegkeeper.services.tracing import CORRELATION_ID, traced
from tests.grpc_support import file_books, serving
from tests.tracing_support import (
    PARENT_SPAN_ID,
    TRACE_ID,
    TRACEPARENT,
    attributes,
    otlp_receiver,
    recording,
    reset_global_provider,
)

BUY = "services.price.v1.PriceService/GetCentsFromSatsForImmediateBuy"


def buy(satoshis: int) -> price_pb2.GetCentsFromSatsForImmediateBuyRequest:
    return price_pb2.GetCentsFromSatsForImmediateBuyRequest(amount_in_satoshis=satoshis)


async def test_without_a_provider_the_interceptor_leaves_calls_alone(tmp_path: Path) -> None:
    interceptors = (TracingInterceptor(),)
    async with serving(file_books(tmp_path), interceptors=interceptors) as stack:
        answer = await stack.price.GetCentsFromSatsForImmediateBuy(
            buy(10**8), metadata=(("traceparent", TRACEPARENT),)
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.price.GetCentsFromSatsForImmediateBuy(buy(0))
    assert answer.amount_in_cents == 99_900
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


async def test_a_call_with_traceparent_metadata_gets_a_server_span_in_that_trace(
    tmp_path: Path,
) -> None:
    interceptors = (TracingInterceptor(),)
    with recording() as spans:
        async with serving(file_books(tmp_path), interceptors=interceptors) as stack:
            answer = await stack.price.GetCentsFromSatsForImmediateBuy(
                buy(10**8), metadata=(("traceparent", TRACEPARENT),)
            )
            with pytest.raises(grpc.aio.AioRpcError):
                await stack.price.GetCentsFromSatsForImmediateBuy(buy(0))
    assert answer.amount_in_cents == 99_900
    served, refused = sorted(spans.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert served.name == refused.name == BUY
    assert served.kind is SpanKind.SERVER and served.context.trace_id == TRACE_ID
    assert served.parent is not None and served.parent.span_id == PARENT_SPAN_ID
    assert served.attributes is not None and served.attributes["rpc.grpc.status_code"] == 0
    assert served.status.status_code is StatusCode.UNSET
    assert refused.parent is None  # no metadata: a trace of its own
    assert refused.status.status_code is StatusCode.ERROR
    assert refused.attributes is not None
    assert refused.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]


async def test_spans_reach_the_collector_over_otlp_http(tmp_path: Path) -> None:
    with otlp_receiver() as collector:
        settings = Settings(
            tracing=TracingSettings(otlp_endpoint=collector.url, service_name="pegkeeper-test"),
            cluster=ClusterSettings(process_name="hedger-1"),
        )
        shutdown = configure_tracing(settings)
        assert shutdown is not None
        try:
            with traced("hedge.cycle", "corr-42") as cycle:
                headers = current_trace_headers()
            with consumer_span("liability", headers):
                pass
            await shutdown()  # exports what the batch processor still holds
        finally:
            reset_global_provider()
    received = {span.name: (resource, span) for resource, span in collector.spans()}
    resource, span = received["hedge.cycle"]
    assert resource["service.name"] == "pegkeeper-test"
    assert resource["service.instance.id"] == "hedger-1"
    assert attributes(span.attributes)[CORRELATION_ID] == "corr-42"
    assert span.trace_id == cycle.get_span_context().trace_id.to_bytes(16, "big")
    _, consumed = received["liability process"]
    assert consumed.trace_id == span.trace_id and consumed.parent_span_id == span.span_id


@pytest.mark.parametrize(("endpoint", "expected"), [("", False), ("http://127.0.0.1:4318", True)])
async def test_the_price_servers_trace_calls_only_with_an_endpoint(
    tmp_path: Path, endpoint: str, expected: bool
) -> None:
    async with serving(file_books(tmp_path)) as stack:
        pricing = Pricing(stack.pricer, stack.quotes, live_books=None)
        settings = Settings(tracing=TracingSettings(otlp_endpoint=endpoint))
        servers = price_servers(settings, pricing, observe_latency=lambda rpc, seconds: None)
    kinds = [type(i) for i in servers._interceptors]
    assert kinds == ([TracingInterceptor] if expected else []) + [LatencyInterceptor]

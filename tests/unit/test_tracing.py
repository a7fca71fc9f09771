"""Spans of the HTTP API and the hedger: a request's server span continues the caller's trace
(FastAPI's own telemetry), and the liability post and the hedge cycle carry the correlation id.
Without a tracer provider the API answers as before and nothing records."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.api.http.app import ApiContext, create_app
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.tracing import CORRELATION_ID
from pegkeeper.services.views.dealer import DealerView
from tests.fakes import FakeStore, FakeVenue
from tests.tracing_support import PARENT_SPAN_ID, TRACE_ID, TRACEPARENT, named, recording

URL = "/api/v1/liability/events"


async def _ready() -> dict[str, str]:
    return {"hedger": "ready"}


def make_app(store: FakeStore) -> FastAPI:
    liability = LiabilityService(
        store.liability, MemoryBus(), ManualClock(1000), max_abs_delta_cents=1_000_000
    )
    app = create_app(ApiContext(liability, DealerView(store), _ready))

    @app.get("/test/recording")
    async def recording_now() -> dict[str, bool]:
        return {"recording": trace.get_current_span().is_recording()}

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_tracing_off_the_api_answers_as_before_and_records_nothing() -> None:
    async with client(make_app(FakeStore())) as c:
        seen = await c.get("/test/recording", headers={"traceparent": TRACEPARENT})
        posted = await c.post(URL, json={"id": "t1", "delta_cents": 500})
    assert seen.status_code == 200 and seen.json() == {"recording": False}
    assert posted.status_code == 201 and posted.json()["liability_cents"] == 500


async def test_a_request_with_a_traceparent_gets_a_server_span_in_that_trace() -> None:
    with recording() as spans:
        async with client(make_app(FakeStore())) as c:
            posted = await c.post(
                URL, json={"id": "t1", "delta_cents": 500}, headers={"traceparent": TRACEPARENT}
            )
            await c.get("/healthz")
            await c.get("/metrics")
    assert posted.status_code == 201
    span = named(spans, f"POST {URL}")
    assert span.kind is SpanKind.SERVER
    assert span.context.trace_id == TRACE_ID
    assert span.parent is not None and span.parent.span_id == PARENT_SPAN_ID
    assert span.parent.is_remote
    assert span.attributes is not None
    assert span.attributes["http.route"] == URL
    assert span.attributes["http.response.status_code"] == 201
    assert span.attributes[CORRELATION_ID] == posted.json()["correlation_id"]
    assert [s.name for s in spans.get_finished_spans()] == [f"POST {URL}"]  # no probes


async def test_a_request_is_named_by_its_route_and_a_server_error_marks_the_span() -> None:
    with recording() as spans:
        app = make_app(FakeStore())

        @app.get("/test/fail/{what}")
        async def fail(what: str) -> None:
            raise RuntimeError(what)

        async with client(app) as c:
            failed = await c.get("/test/fail/now")
            fresh = await c.get("/api/v1/liability")
    assert failed.status_code == 503 and fresh.status_code == 200
    span = named(spans, "GET /test/fail/{what}")
    assert span.parent is None  # no traceparent: a new trace
    assert span.status.status_code is StatusCode.ERROR
    assert named(spans, "GET /api/v1/liability").status.status_code is StatusCode.UNSET


async def test_a_hedge_cycle_is_a_span_with_the_correlation_id_it_answers() -> None:
    store, venue, bus, clock = FakeStore(), FakeVenue(), MemoryBus(), ManualClock(1_000)
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**9)
    await liability.post("a", 1_000_000)
    hedger = HedgerService(store, venue, bus, clock, StablesatsHedgePolicy(), HedgerSettings())
    with recording() as spans:
        record = await hedger.cycle("liability", "trigger-1")
    assert record is not None and record.action == "sell"
    span = named(spans, "hedge.cycle")
    (event,) = store.liability.events
    assert span.attributes is not None
    assert span.attributes[CORRELATION_ID] == event.correlation_id == record.correlation_id
    assert span.attributes["pegkeeper.reason"] == "liability"

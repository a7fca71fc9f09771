"""The dashboard's HTTP side in process: operator actions (tokens, CSRF), pages and static
assets, the dashboard's data, /metrics and the live event stream."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal

import orjson
import pytest

from pegkeeper.domain.events import PegUpdated, encode_event
from pegkeeper.domain.records import PositionSnapshot
from tests.web_support import ALICE_TOKEN, BOB_TOKEN, START_MS, WebWorld, web_world

PAUSE = "/api/v1/operator/hedging/pause"
CLOSE = "/api/v1/operator/position/close"


@pytest.fixture
async def world() -> AsyncIterator[WebWorld]:
    async with web_world() as w:
        yield w


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def recorded(world: WebWorld) -> int:
    return len(await world.store.operator_actions.recent(100))


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [
        ({}, 401, "operator actions need Authorization: Bearer"),
        ({"authorization": f"Basic {ALICE_TOKEN}"}, 401, "must be: Bearer"),
        ({"authorization": "Bearer "}, 401, "must be: Bearer"),
        (bearer("alice-0123456789abcdeX"), 403, "not valid"),
        (bearer(ALICE_TOKEN) | {"origin": "http://evil.example"}, 403, "cross-site"),
        (bearer(ALICE_TOKEN) | {"sec-fetch-site": "cross-site"}, 403, "cross-site"),
    ],
)
async def test_an_operator_action_refused_does_nothing(
    world: WebWorld, headers: dict[str, str], status: int, says: str
) -> None:
    async with world.client() as client:
        for path in (PAUSE, CLOSE, "/api/v1/operator/alerts/a1/acknowledge"):
            response = await client.post(path, json={"confirm": "close-position"}, headers=headers)
            assert response.status_code == status, response.text
            assert says in response.json()["error"]
            if status == 401:
                assert response.headers["www-authenticate"].startswith("Bearer")
    assert not world.control.paused and await recorded(world) == 0
    assert world.venue.sent == []


async def test_without_configured_tokens_every_action_is_refused(world: WebWorld) -> None:
    async with web_world(tokens={}) as bare, bare.client() as client:
        response = await client.post(PAUSE, headers=bearer(ALICE_TOKEN))
        assert response.status_code == 403 and "no operator tokens" in response.json()["error"]
        state = (await client.get("/api/v1/operator")).json()
        assert state["operator_actions_enabled"] is False
        assert not bare.control.paused and await recorded(bare) == 0


async def test_an_operator_pauses_and_resumes_hedging_and_the_trail_names_them(
    world: WebWorld,
) -> None:
    async with world.client() as client:
        who = await client.get("/api/v1/operator/whoami", headers=bearer(BOB_TOKEN))
        assert who.json() == {"operator": "bob"}
        paused = await client.post(
            PAUSE,
            json={"note": "venue maintenance"},
            headers=bearer(ALICE_TOKEN) | {"origin": "http://testserver"},
        )
        assert paused.status_code == 200, paused.text
        body = paused.json()
        assert (body["operator"], body["action"], body["result"]) == (
            "alice",
            "hedging.pause",
            "done",
        )
        assert body["created_at_ms"] == START_MS and body["note"] == "venue maintenance"
        assert world.control.paused
        world.clock.advance(5)
        resumed = await client.post("/api/v1/operator/hedging/resume", headers=bearer(BOB_TOKEN))
        assert resumed.json()["result"] == "done" and not world.control.paused
        state = (await client.get("/api/v1/operator")).json()
    assert state["operator_actions_enabled"] is True
    assert state["hedging"] == {
        "paused": False,
        "by": "bob",
        "since_ms": START_MS + 5000,
        "note": "",
    }
    assert [(a["operator"], a["action"]) for a in state["actions"]] == [
        ("bob", "hedging.resume"),
        ("alice", "hedging.pause"),
    ]
    assert state["actions"][1]["client_address"] == "127.0.0.1"


async def test_closing_needs_an_explicit_confirmation_and_json(world: WebWorld) -> None:
    world.venue.size_contracts = Decimal(-40)
    async with world.client() as client:
        unconfirmed = await client.post(CLOSE, json={}, headers=bearer(ALICE_TOKEN))
        assert unconfirmed.status_code == 422 and "confirm" in unconfirmed.json()["error"]
        form = await client.post(
            CLOSE,
            content=b"confirm=close-position",
            headers=bearer(ALICE_TOKEN) | {"content-type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 422 and "application/json" in form.json()["error"]
        assert world.venue.sent == [] and not world.control.paused
        closed = await client.post(
            CLOSE, json={"confirm": "close-position"}, headers=bearer(ALICE_TOKEN)
        )
    assert closed.status_code == 200, closed.text
    assert closed.json()["detail"].endswith("closed 40 contracts at 10000 USD")
    assert world.venue.size_contracts == 0 and world.control.paused


async def test_acknowledging_an_alert_records_its_id(world: WebWorld) -> None:
    async with world.client() as client:
        ok = await client.post(
            "/api/v1/operator/alerts/funding-low:7/acknowledge", headers=bearer(ALICE_TOKEN)
        )
        bad = await client.post(
            "/api/v1/operator/alerts/bad%20id/acknowledge", headers=bearer(ALICE_TOKEN)
        )
    assert ok.status_code == 200 and ok.json()["target"] == "funding-low:7"
    assert ok.json()["result"] == "recorded"
    assert bad.status_code == 422 and "alert id must be" in bad.json()["error"]
    assert await recorded(world) == 1


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/", "Overview"),
        ("/pegs", "Pegs"),
        ("/orders", "Orders &amp; transfers"),
        ("/quotes", "Quotes"),
        ("/equities", "Equities"),
        ("/pnl", "P&amp;L"),
        ("/orders/pk0123abc", "Order"),
        ("/audit/abc123", "Audit trail"),
    ],
)
async def test_every_page_renders_with_its_navigation_and_settings(
    world: WebWorld, path: str, title: str
) -> None:
    async with world.client() as client:
        response = await client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert f"<title>{title} · pegkeeper</title>" in html
    for href in ("/", "/pegs", "/orders", "/quotes", "/equities", "/pnl"):
        assert f'<a href="{href}"' in html
    config_text = re.search(r'id="page-config">(.*?)</script>', html, re.S)
    assert config_text is not None
    config = orjson.loads(config_text.group(1))
    assert config["brackets"] == {
        "low": "0.95",
        "low_safe": "0.98",
        "high_safe": "1.00",
        "high": "1.03",
    }
    assert config["heartbeat_ms"] == 50 and config["operator_actions"] is True
    # the chart library is served by pegkeeper itself, never from a CDN
    assert "/static/vendor/uplot/uPlot.iife.min.js" in html and "https://" not in html


async def test_static_assets_are_served_from_the_package(world: WebWorld) -> None:
    async with world.client() as client:
        uplot = await client.get("/static/vendor/uplot/uPlot.iife.min.js")
        licence = await client.get("/static/vendor/uplot/LICENSE")
        app_js = await client.get("/static/app.js")
        missing = await client.get("/static/../web/__init__.py")
        bad_order = await client.get("/orders/not-an-id!")
    assert uplot.status_code == 200 and "uPlot" in uplot.text
    assert licence.status_code == 200 and "MIT" in licence.text
    assert app_js.status_code == 200 and "EventSource" in app_js.text
    assert missing.status_code == 404 and bad_order.status_code == 404


async def test_transfers_and_equities_say_they_are_not_there_yet(world: WebWorld) -> None:
    async with world.client() as client:
        transfers = (await client.get("/api/v1/transfers")).json()
        equities = (await client.get("/api/v1/equities")).json()
    assert transfers == {"available": False, "transfers": []}
    assert equities == {"configured": False, "symbols": []}


def snapshot(at_ms: int, size: int, mark: str, liquidation: str | None) -> PositionSnapshot:
    return PositionSnapshot(
        created_at_ms=at_ms,
        correlation_id="c-snap",
        instrument_id="BTC-USD-SWAP",
        size_contracts=Decimal(size),
        avg_price_usd=Decimal(mark),
        mark_price_usd=Decimal(mark),
        exposure_cents=size * 10_000,
        liquidation_price_usd=None if liquidation is None else Decimal(liquidation),
        collateral=Decimal("1.5"),
        collateral_available=Decimal("1.2"),
        funding_balance=Decimal("1"),
        leverage=Decimal("0.6533"),
    )


async def test_the_overview_and_its_history(world: WebWorld) -> None:
    await world.liability.post("u1", 1_000_000)  # at START_MS
    world.clock.advance(10)
    await world.store.hedge.record_position(snapshot(world.clock.now_ms(), -98, "10000", "13000"))
    world.clock.advance(10)
    await world.liability.post("u2", -500_000)
    async with world.client() as client:
        overview = (await client.get("/api/v1/overview")).json()
        history = (await client.get("/api/v1/dealer/history?window=1h")).json()
        bad = await client.get("/api/v1/dealer/history?window=2h")
    assert overview["liability_cents"] == 500_000 and overview["exposure_cents"] == -980_000
    assert overview["hedge_ratio"] == "1.9600"  # 980 000 / 500 000
    # a short is liquidated when the price rises to 13 000: (13 000 - 10 000) / 10 000
    assert overview["liquidation_distance"] == "0.3000"
    assert overview["collateral_available_btc"] == "1.2" and overview["now_ms"] == START_MS + 20_000
    assert overview["hedging"]["paused"] is False
    assert [(p["ts_ms"], p["liability_cents"], p["exposure_cents"]) for p in history["points"]] == [
        (START_MS, 1_000_000, 0),
        (START_MS + 10_000, 1_000_000, -980_000),
        (START_MS + 20_000, 500_000, -980_000),
    ]
    world.clock.advance(3600)  # an hour later: the values in force, carried to now
    async with world.client() as client:
        later = (await client.get("/api/v1/dealer/history?window=1h")).json()["points"]
    now_ms = START_MS + 3_620_000
    assert [(p["ts_ms"], p["liability_cents"], p["exposure_cents"]) for p in later] == [
        (START_MS + 20_000, 500_000, -980_000),
        (now_ms, 500_000, -980_000),
    ]
    assert bad.status_code == 422 and "window must be one of" in bad.json()["detail"]


async def test_the_audit_trail_of_a_liability_event(world: WebWorld) -> None:
    posted = await world.liability.post("u1", 250_000, "a user buys USD")
    correlation = posted.event.correlation_id
    async with world.client() as client:
        trail = (await client.get(f"/api/v1/audit/{correlation}")).json()
        unknown = await client.get("/api/v1/audit/abc")
        malformed = await client.get("/api/v1/audit/a-b")
        no_order = await client.get("/api/v1/orders/pk1")
    assert [e["id"] for e in trail["liability_events"]] == ["u1"]
    assert trail["liability_events"][0]["memo"] == "a user buys USD"
    assert trail["decisions"] == [] and trail["orders"] == []
    assert unknown.status_code == 404 and malformed.status_code == 422
    assert no_order.status_code == 404


def sample(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert match is not None, f"{name}{labels} not in /metrics"
    return float(match.group(1))


async def test_metrics_read_the_book_at_scrape_time(world: WebWorld) -> None:
    await world.liability.post("u1", 1_000_000)
    await world.store.hedge.record_position(snapshot(START_MS, -98, "10000", "13000"))
    world.clock.advance(30)
    async with world.client() as client:
        quoted = await client.get("/api/v1/quote?direction=buy&sats=100000")
        assert quoted.status_code == 200
        text = (await client.get("/metrics")).text
    assert sample(text, "pegkeeper_liability_usd") == 10_000.0
    assert sample(text, "pegkeeper_exposure_usd") == -9_800.0
    assert sample(text, "pegkeeper_hedge_ratio") == 0.98
    assert sample(text, "pegkeeper_hedge_ratio_bracket", '{bound="high"}') == 1.03
    assert sample(text, "pegkeeper_liquidation_distance_ratio") == 0.3
    assert sample(text, "pegkeeper_collateral", '{account="funding"}') == 1.0
    assert sample(text, "pegkeeper_position_snapshot_age_seconds") == 30.0
    assert sample(text, "pegkeeper_hedging_paused") == 0.0
    assert sample(text, "pegkeeper_service_ready", '{service="hedger"}') == 1.0
    assert sample(text, "pegkeeper_bus_messages_total", '{topic="liability"}') == 1.0
    assert sample(text, "pegkeeper_quote_latency_seconds_count", '{rpc="http"}') == 1.0
    assert sample(text, "pegkeeper_order_updates_total", '{state="filled"}') == 0.0
    world.health.job_ended("hedger", RuntimeError("boom"))
    async with world.client() as client:
        text = (await client.get("/metrics")).text
    assert sample(text, "pegkeeper_service_ready", '{service="hedger"}') == 0.0


async def test_the_event_stream_says_hello_beats_and_forwards_the_bus(world: WebWorld) -> None:
    stop = False
    world.events._stopping = lambda: stop  # type: ignore[method-assign]
    stream = world.events.stream()
    first = await anext(stream)
    assert first.startswith(b"retry: 1000\nevent: hello\n")
    assert world.events.boot_id.encode() in first
    beat = await anext(stream)
    assert beat.startswith(b"event: heartbeat\n")
    health = orjson.loads(beat.split(b"data: ", 1)[1])
    assert health["services"] == {"hedger": "ready", "liability": "ready", "web": "ready"}
    assert health["hedging"]["paused"] is False
    await world.bus.publish("pegstats.USDC", encode_event(PegUpdated("USDC", 5, 0.9876, 4.5)))
    frames = [await anext(stream) for _ in range(3)]  # the event, perhaps after heartbeats
    (frame,) = [f for f in frames if not f.startswith(b"event: heartbeat")][:1]
    assert frame.startswith(b"event: peg\n")
    assert orjson.loads(frame.split(b"data: ", 1)[1]) == {
        "symbol": "USDC",
        "ts_ms": 5,
        "price": 0.9876,
        "score": 4.5,
    }
    assert world.events.clients == 1
    stop = True
    with pytest.raises(StopAsyncIteration):
        while True:
            await anext(stream)
    assert world.events.clients == 0

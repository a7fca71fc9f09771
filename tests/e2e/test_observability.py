"""Observability and operator actions of `pegkeeper run`, through its public interfaces: /metrics
against the Grafana dashboard in the repository, JSON logs with correlation ids, the start
banner, and an operator closing the position over HTTP, across a restart."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Running, free_port, start, stop
from tests.e2e.test_hedge_loop import wait_for

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "pegkeeper.json"
TOKEN = "ops-token-0123456789abcdef"
OPERATORS = {"PEGKEEPER_WEB__OPERATOR_TOKENS": f"carol:{TOKEN}"}
METRIC = re.compile(r"\bpegkeeper_[a-z0-9_]+")


def exported_names(exposition: str) -> set[str]:
    """Every metric family (TYPE lines, present even before a first sample) and sample name."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def queried_names(dashboard: dict[str, Any]) -> set[str]:
    text = json.dumps(dashboard)
    return set(METRIC.findall(text))


def test_every_metric_the_grafana_dashboard_queries_is_exported(quiet_instance: Running) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = queried_names(dashboard)
    with quiet_instance.client() as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    exported = exported_names(response.text)
    assert queried - exported == set(), f"queried but not exported: {sorted(queried - exported)}"
    # what the issue names is on the dashboard
    for name in (
        "pegkeeper_liability_usd",
        "pegkeeper_exposure_usd",
        "pegkeeper_hedge_ratio",
        "pegkeeper_leverage",
        "pegkeeper_liquidation_distance_ratio",
        "pegkeeper_feed_age_seconds",
        "pegkeeper_bus_messages_total",
        "pegkeeper_quote_latency_seconds_bucket",
        "pegkeeper_order_updates_total",
        "pegkeeper_errors_total",
    ):
        assert name in queried, name
    titles = [p["title"] for p in dashboard["panels"]]
    assert len(titles) == len(set(titles)) and dashboard["uid"] == "pegkeeper"


def log_lines(running: Running) -> list[dict[str, Any]]:
    lines = []
    for line in running.log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_json_logs_tie_a_liability_event_to_its_decision_order_and_fills(
    quiet_instance: Running,
) -> None:
    banner = quiet_instance.log.read_text()
    assert f"  dashboard: {quiet_instance.url}/\n" in banner
    assert f"  metrics: {quiet_instance.url}/metrics" in banner
    with quiet_instance.client() as client:
        posted = client.post(
            "/api/v1/liability/events", json={"id": "log1", "delta_cents": 300_000}
        )
        correlation = posted.json()["correlation_id"]
        wait_for(client, lambda b: b["position_contracts"] == "-29")  # round(0.98 * 30) = 29
    deadline = time.monotonic() + 10
    while True:
        traced = [
            line for line in log_lines(quiet_instance) if line.get("correlation_id") == correlation
        ]
        events = [line["event"] for line in traced]
        if "fill" in events or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert events[:2] == ["liability changed", "hedge decided"], events
    assert {"order state", "fill"} <= set(events)
    states = [line["state"] for line in traced if line["event"] == "order state"]
    assert states[0] == "created" and states[-1] == "filled"
    (liability,) = [line for line in traced if line["event"] == "liability changed"]
    assert (liability["event_id"], liability["delta_cents"]) == ("log1", 300_000)
    fills = [line for line in traced if line["event"] == "fill"]
    assert sum(int(f["size_contracts"]) for f in fills) == 29
    assert all(line["level"] in ("info", "warning") for line in traced)


def operator_post(
    running: Running, path: str, body: dict[str, Any], token: str | None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{running.url}{path}", json=body, headers=headers, timeout=30)


def test_an_operator_closes_the_position_and_it_stays_closed_after_a_restart(
    tmp_path: Path,
) -> None:
    port = free_port()
    running = start(tmp_path, "[demo]\nenabled = false\n", env=OPERATORS, port=port)
    try:
        with running.client() as client:
            client.post("/api/v1/liability/events", json={"id": "c1", "delta_cents": 1_000_000})
            wait_for(client, lambda b: b["position_contracts"] == "-98")
            close = "/api/v1/operator/position/close"
            refused = operator_post(running, close, {"confirm": "close-position"}, None)
            assert refused.status_code == 401
            wrong = operator_post(running, close, {"confirm": "close-position"}, TOKEN + "x")
            assert wrong.status_code == 403
            assert client.get("/api/v1/dealer").json()["position_contracts"] == "-98"
            closed = operator_post(
                running, close, {"confirm": "close-position", "note": "drill"}, TOKEN
            )
            assert closed.status_code == 200, closed.text
            action = closed.json()
            assert (action["operator"], action["result"]) == ("carol", "done")
            assert "closed 98 contracts" in action["detail"]
            body = wait_for(client, lambda b: b["position_contracts"] == "0")
            assert body["liability_cents"] == 1_000_000  # still owed: hedging is paused
            trail = client.get(f"/api/v1/audit/{action['correlation_id']}").json()
            (order,) = trail["orders"]
            assert order["kind"] == "close_position" and order["state"] == "filled"
            assert trail["decisions"][0]["rule"] == "operator-close by carol"
            assert trail["operator_actions"][0]["note"] == "drill"
        stop(running)

        running = start(tmp_path, "[demo]\nenabled = false\n", env=OPERATORS, port=port)
        with running.client() as client:
            state = client.get("/api/v1/operator").json()
            assert state["hedging"]["paused"] is True and state["hedging"]["by"] == "carol"
            time.sleep(1)  # a paused hedger does not open the short again
            assert client.get("/api/v1/dealer").json()["position_contracts"] == "0"
            metrics = client.get("/metrics").text
            assert "pegkeeper_hedging_paused 1.0" in metrics
            resumed = operator_post(running, "/api/v1/operator/hedging/resume", {}, TOKEN)
            assert resumed.status_code == 200 and resumed.json()["result"] == "done"
            wait_for(client, lambda b: b["position_contracts"] == "-98")
    finally:
        stop(running)

"""The money the funding manager moves and the alerts, on the dashboard of `pegkeeper run` with
its funding manager: transfers, deposits and withdrawals with their states on the orders page;
alerts with their state on the overview, acknowledged from there."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.e2e.conftest import Running, start, stop

TOKEN = "alice-token-0123456789abcdef"
# No opening book and quiet users (one trade in ~28 simulated hours): at start the funding
# manager moves the simulator's 2 BTC of idle trading collateral to the funding account and
# withdraws what no hedge needs to the operator's wallet. A hedge outside its brackets for one
# simulated second is an alert.
WITH_FUNDING = """
[demo]
mean_interval_seconds = 100000.0
opening_liability_cents = 0
peg_replay = false
[alerts]
hedge_outside_brackets_seconds = 1.0
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    env = {"PEGKEEPER_WEB__OPERATOR_TOKENS": f"alice:{TOKEN}"}
    instance = start(tmp_path_factory.mktemp("browser-funding"), WITH_FUNDING, env=env)
    yield instance
    stop(instance)


def get(running: Running, path: str) -> Any:
    return httpx.get(running.url + path, timeout=10).json()


def wait_until(check: Any, what: str, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {what} after {timeout_s} s")


def test_the_transfers_panel_lists_what_the_funding_manager_moved(
    running: Running, page: Page
) -> None:
    body = wait_until(lambda: get(running, "/api/v1/transfers")["transfers"], "transfer")
    assert get(running, "/api/v1/transfers")["available"] is True
    funding = {o["operation_id"]: o for o in get(running, "/api/v1/funding?limit=50")["operations"]}
    first = body[-1]  # the oldest: trading collateral no hedge needs, to the funding account
    assert first["operation_id"] in funding
    assert (first["kind"], first["from"], first["to"]) == (
        "transfer_to_funding",
        "trading",
        "funding",
    )
    assert first["state"] == funding[first["operation_id"]]["state"]

    page.goto(running.url + "/orders")
    table = page.locator("#transfers table")
    expect(table).to_contain_text("transfer_to_funding", timeout=10_000)
    expect(page.locator("#transfers-unavailable")).to_have_count(0)
    expect(table).to_contain_text("trading → funding")
    expect(table).to_contain_text(f"{first['amount']} BTC")
    expect(table.locator(f"td.state-{first['state']}").first).to_be_visible()
    screenshot(page, "transfers")


def test_alerts_are_listed_with_their_state_and_acknowledged_from_the_page(
    running: Running, page: Page
) -> None:
    with httpx.Client(base_url=running.url, timeout=10) as client:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        paused = client.post("/api/v1/operator/hedging/pause", json={}, headers=headers)
        assert paused.status_code == 200, paused.text
        posted = client.post(
            "/api/v1/liability/events", json={"id": "unhedged", "delta_cents": 500_000}
        )
        assert posted.status_code == 201
    alert = wait_until(
        lambda: next(
            (a for a in get(running, "/api/v1/alerts")["alerts"] if a["severity"] == "warning"),
            None,
        ),
        "outside-brackets alert",
    )
    assert alert["kind"] == "hedge_outside_brackets"
    assert alert["state"] == "not delivered"  # no webhook configured: logged and stored only

    page.goto(running.url + "/")
    row = page.locator(f'#alerts tr[data-id="{alert["alert_id"]}"]')
    expect(row).to_contain_text("hedge outside its brackets", timeout=10_000)
    expect(row.locator(".alert-state")).to_have_text("not delivered")
    page.fill("#op-token", TOKEN)
    page.click("#op-token-form button[type=submit]")
    expect(page.locator("#op-who")).to_have_text("acting as alice")
    row.locator(".alert-pick").click()
    expect(page.locator("#op-alert-id")).to_have_value(alert["alert_id"])
    page.click("#op-ack button[type=submit]")
    expect(row.locator(".alert-state")).to_have_text("acknowledged by alice", timeout=5_000)
    acknowledged = {a["alert_id"]: a for a in get(running, "/api/v1/alerts")["alerts"]}
    assert acknowledged[alert["alert_id"]]["state"] == "acknowledged"
    assert acknowledged[alert["alert_id"]]["acknowledged_by"] == "alice"
    screenshot(page, "alerts")

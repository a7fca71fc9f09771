"""The overview's leverage and liquidation colours follow the configured policy, not numbers
written into the page: leverage red outside the funding policy's bounds, the liquidation
distance red under the alert floor. Here the bounds are 0.5 to 2.3 (the default policy's are 2
to 4) and the floor 70 % (default 20 %), so a leverage of about 1.8 is green and one of about
2.8 red, which the default policy would colour the other way round."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.e2e.conftest import Running, start, stop

# No simulated users and no funding manager: the simulator's 2 BTC of trading collateral stay
# where they are, and only what the test posts moves the hedge.
POLICY = """
[demo]
enabled = false
[funding]
enabled = false
[funding.stablesats]
low_bound_ratio_leverage = 0.5
low_safebound_ratio_leverage = 1.0
high_safebound_ratio_leverage = 1.0
high_bound_ratio_leverage = 2.3
[alerts]
liquidation_distance_floor_pct = 70.0
"""
HIGH_BOUND = Decimal("2.3")
FLOOR_PCT = Decimal(70)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    instance = start(tmp_path_factory.mktemp("browser-risk"), POLICY)
    yield instance
    stop(instance)


def post(running: Running, cents: int) -> None:
    body = {"id": f"risk-{uuid.uuid4().hex}", "delta_cents": cents}
    response = httpx.post(running.url + "/api/v1/liability/events", json=body, timeout=10)
    assert response.status_code == 201, response.text


def hedged_risk(running: Running) -> dict[str, Any]:
    """The dealer's figures once the hedge is inside its brackets."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = httpx.get(running.url + "/api/v1/dealer", timeout=10).json()
        ratio = body["hedge_ratio"]
        if body["risk"] and ratio and abs(Decimal(ratio) - 1) < Decimal("0.05"):
            return dict(body["risk"])
        time.sleep(0.2)
    raise AssertionError(f"no hedge after 30 s: {body}")


def card_class(page: Page, card: str, value_field: str, value: str, expected: str) -> None:
    """Waits until the card shows `value` (the server's figure), then checks its colour."""
    expect(page.locator(f'[data-field="{value_field}"]')).to_have_attribute(
        "data-value", value, timeout=15_000
    )
    expect(page.locator(card)).to_have_class(re.compile(rf"\b{expected}\b"))


def test_colours_change_at_the_configured_bound_and_floor(running: Running, page: Page) -> None:
    post(running, 2_800_000)  # 28 000 USD: about 1.8 x on 2 BTC near 7 900 USD
    first = hedged_risk(running)
    leverage, distance = Decimal(first["leverage"]), Decimal(first["liquidation_distance_pct"])
    assert Decimal(1) < leverage < HIGH_BOUND and distance > FLOOR_PCT, first
    page.goto(running.url + "/")
    card_class(page, "#card-leverage", "leverage", first["leverage"], "good")
    card_class(
        page, "#card-liquidation", "liquidation-distance", first["liquidation_distance_pct"], "good"
    )
    # the bounds and floor the page was given come from the configuration
    config = page.evaluate("PK.config")
    assert config["leverage_bounds"] == {"low": "0.5", "high": "2.3"}
    assert config["liquidation_floor_pct"] == "70.0"
    screenshot(page, "risk-inside-policy")

    # to about 2.8 x: above the configured bound, and liquidated within 70 % of the mark
    mark, equity = Decimal(first["mark_price_usd"]), Decimal(first["equity"])
    target_cents = int(Decimal("2.8") * equity * mark * 100)
    post(running, target_cents - 2_800_000)
    second = hedged_risk(running)
    leverage, distance = Decimal(second["leverage"]), Decimal(second["liquidation_distance_pct"])
    assert leverage > HIGH_BOUND and distance < FLOOR_PCT, second
    card_class(page, "#card-leverage", "leverage", second["leverage"], "bad")
    card_class(
        page, "#card-liquidation", "liquidation-distance", second["liquidation_distance_pct"], "bad"
    )
    expect(page.locator('[data-field="risk-as-of"]')).to_contain_text("hedger")
    screenshot(page, "risk-outside-policy")

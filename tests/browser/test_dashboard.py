"""The dashboard of `pegkeeper run` in headless chromium: the demo's numbers on the overview, a
liability change arriving without a reload, a peg card through the USDC depeg, operator actions
refused without the token, every page, and a page that survives its server restarting.

Screenshots: artifacts/browser/*.png.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.anvil_chain import anvil_path
from tests.browser.conftest import screenshot
from tests.e2e.conftest import Running, free_port, start, stop

TOKEN = "alice-token-0123456789abcdef"
# Simulated users trade every ~2 s (120 s of simulated time at 60x); the peg replay starts at
# minute 4 440 of 8-15 March 2023 (10 March, 02:00 UTC), 140 recorded minutes before USDC
# broke its peg, and plays 10 minutes a second: the break comes ~14 s after the start.
# Without the funding manager, so that the venue's accounts keep the simulator's 3 BTC (the P&L
# page counts the venue's accounts only) and every hedge fills at once, with no wait for a deposit.
DEMO = """
[demo]
mean_interval_seconds = 120.0
peg_replay_minutes_per_second = 10.0
peg_replay_start_minute = 4440
[funding]
enabled = false
"""
OPERATORS = {"PEGKEEPER_WEB__OPERATOR_TOKENS": f"alice:{TOKEN}"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(tmp_path_factory.mktemp("browser-demo"), DEMO, env=OPERATORS)
    yield running
    stop(running)


def api(running: Running, path: str) -> Any:
    return httpx.get(running.url + path, timeout=10).json()


def card(page: Page, symbol: str) -> Any:
    return page.locator(f'.peg-card[data-symbol="{symbol}"]')


def test_a_peg_card_reacts_to_the_usdc_depeg_replay(demo: Running, page: Page) -> None:
    page.goto(demo.url + "/pegs")
    usdc = card(page, "USDC")
    page.wait_for_function(
        """() => document.querySelector('.peg-card[data-symbol="USDC"]').dataset.price""",
        timeout=10_000,
    )
    before = float(usdc.get_attribute("data-price") or "nan")
    score_before = float(usdc.locator('[data-field="score"]').get_attribute("data-value") or "nan")
    assert before > 0.99 and "depeg" not in (usdc.get_attribute("class") or "")
    page.evaluate("window.__sameDocument = true")
    # the replay reaches the break: the card turns without a reload
    page.wait_for_function(
        """() => {
            const c = document.querySelector('.peg-card[data-symbol="USDC"]');
            return c.classList.contains('depeg') && Number(c.dataset.price) < 0.97;
        }""",
        timeout=40_000,
    )
    assert page.evaluate("window.__sameDocument") is True
    # one snapshot: the card keeps updating between separate reads
    shown = page.evaluate(
        """() => {
            const c = document.querySelector('.peg-card[data-symbol="USDC"]');
            return {
                price: c.dataset.price,
                text: c.querySelector('[data-field="price"]').innerText,
                deviation: c.querySelector('[data-field="deviation"]').dataset.value,
            };
        }"""
    )
    price = float(shown["price"])
    price_text = shown["text"]
    assert len(price_text.split(".")[1]) == 6  # to 6 decimals
    assert abs(float(price_text) - price) < 1e-6
    deviation = float(shown["deviation"])
    assert deviation == pytest.approx((price - 1) * 10_000)  # in basis points
    assert deviation < -300
    expect(usdc.locator('[data-field="status"]')).to_have_text("depegged")
    # the statistics behind the score follow, and the live chart has the points
    score = '.peg-card[data-symbol="USDC"] [data-field="score"]'
    page.wait_for_function(
        f"""() => Number(document.querySelector('{score}').dataset.value) < {score_before}""",
        timeout=20_000,
    )
    assert int(usdc.get_attribute("data-points") or "0") > 50
    expect(usdc.locator("[data-stats] table")).to_contain_text("rmse (score)")
    expect(usdc.locator("[data-rates] table")).to_contain_text("BTC/USDC")
    expect(page.locator("#sources table")).to_contain_text("binanceus")
    screenshot(page, "pegs-usdc-depeg")


def test_the_overview_shows_the_demos_numbers(demo: Running, page: Page) -> None:
    page.goto(demo.url + "/")
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "live", timeout=10_000)

    def shown(field: str) -> str | None:
        return page.locator(f'[data-field="{field}"]').first.get_attribute("data-value")

    deadline = time.monotonic() + 30
    while True:
        data = api(demo, "/api/v1/overview")
        page_values = {
            "liability": shown("liability"),
            "position": shown("position"),
            "btc-price": shown("btc-price"),
            "collateral": shown("collateral"),
            "hedge-ratio": shown("hedge-ratio"),
        }
        api_values = {
            "liability": str(data["liability_cents"]),
            "position": data["position_contracts"],
            "btc-price": data["btc_price_usd"],
            "collateral": data["collateral_btc"],
            "hedge-ratio": data["hedge_ratio"],
        }
        if page_values == api_values and data["liability_cents"] > 0:
            break
        assert time.monotonic() < deadline, f"page {page_values} != api {api_values}"
        time.sleep(0.2)
    liability_cents = data["liability_cents"]
    # numbers with units, in the viewer's locale
    expect(page.locator('[data-field="liability"]')).to_have_text(
        f"{liability_cents / 100:,.2f} USD"
    )
    expect(page.locator('[data-field="btc-price"]')).to_have_text(
        f"{Decimal(data['btc_price_usd']):,.2f} USD"
    )
    expect(page.locator('[data-field="collateral"]')).to_have_text(
        f"{Decimal(data['collateral_btc']):,.8f} BTC"
    )
    expect(page.locator('[data-field="leverage"]')).to_contain_text("×")
    # every service ready, every source fresh, hedging active
    for service in ("hedger", "liability", "peg-monitor", "price-server", "web"):
        expect(page.locator(f'#services li[data-service="{service}"]')).to_have_attribute(
            "data-state", "ready"
        )
    expect(page.locator("#hedging-badge")).to_have_text("hedging active")
    expect(page.locator("#last-decision")).to_contain_text("trigger")
    # times in the viewer's timezone
    expect(page.locator("footer")).to_contain_text("America/New_York")
    screenshot(page, "overview")


def test_a_liability_event_posted_through_the_api_appears_without_reload(
    demo: Running, page: Page
) -> None:
    page.goto(demo.url + "/")
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    expect(page.locator("#liability-events table")).to_be_visible(timeout=10_000)
    page.evaluate("window.__sameDocument = true")
    memo = f"browser test {uuid.uuid4().hex[:8]}"
    posted = httpx.post(
        demo.url + "/api/v1/liability/events",
        json={"id": f"browser-{uuid.uuid4().hex}", "delta_cents": 123_456, "memo": memo},
        timeout=10,
    )
    assert posted.status_code == 201
    event = posted.json()
    row = page.locator("#liability-events tr", has_text=memo)
    expect(row).to_be_visible(timeout=5_000)
    expect(row).to_contain_text("+1,234.56 USD")
    expect(row).to_contain_text(f"{event['liability_cents'] / 100:,.2f} USD")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    # the event's trail: from the page to the liability change, its decision and the order
    row.locator("a").click()
    expect(page.locator("#liability")).to_contain_text(memo, timeout=10_000)
    expect(page.locator("#correlation-id")).to_have_text(event["correlation_id"])
    expect(page.locator("#decisions table")).to_be_visible(timeout=10_000)
    screenshot(page, "audit-trail-of-a-liability-event")


def test_an_operator_action_without_the_token_is_refused(demo: Running, page: Page) -> None:
    page.goto(demo.url + "/")
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    expect(page.locator("#hedging-badge")).to_have_text("hedging active")
    actions_before = len(api(demo, "/api/v1/operator")["actions"])

    page.click("#op-pause")
    expect(page.locator("#op-result")).to_contain_text("refused (401)")
    page.fill("#op-token", "alice-token-0123456789abcdeX")
    page.click("#op-token-form button[type=submit]")
    expect(page.locator("#op-who")).to_have_text("token refused (403)")
    page.click("#op-pause")
    expect(page.locator("#op-result")).to_contain_text("refused (403)")
    state = api(demo, "/api/v1/operator")
    assert state["hedging"]["paused"] is False and len(state["actions"]) == actions_before
    expect(page.locator("#hedging-badge")).to_have_text("hedging active")
    screenshot(page, "operator-refused")

    page.fill("#op-token", TOKEN)
    page.click("#op-token-form button[type=submit]")
    expect(page.locator("#op-who")).to_have_text("acting as alice")
    page.fill("#op-note", "browser drill")
    page.click("#op-pause")
    expect(page.locator("#hedging-badge")).to_have_text("hedging paused", timeout=5_000)
    expect(page.locator("#banner")).to_contain_text("Hedging is paused by alice")
    expect(page.locator("#op-actions table")).to_contain_text("browser drill")
    state = api(demo, "/api/v1/operator")
    assert state["hedging"]["paused"] is True and state["actions"][0]["operator"] == "alice"
    screenshot(page, "operator-paused")
    page.click("#op-resume")
    expect(page.locator("#hedging-badge")).to_have_text("hedging active", timeout=5_000)
    assert api(demo, "/api/v1/operator")["hedging"]["paused"] is False


def test_every_page_shows_its_numbers(demo: Running, page: Page) -> None:
    page.goto(demo.url + "/orders")
    first = page.locator("#orders tbody tr").first
    expect(first).to_be_visible(timeout=15_000)
    expect(first).to_contain_text("USD")  # the liability change (or check) that caused it
    expect(page.locator("#transfers-unavailable")).to_be_visible()
    screenshot(page, "orders")
    link = first.locator('a[href^="/orders/"]')
    order_id, href = link.inner_text(), link.get_attribute("href")
    assert href is not None
    correlation_id = api(demo, f"/api/v1/orders/{order_id}")["correlation_id"]
    expect(first.locator("a.order-trail")).to_have_attribute("href", f"/audit/{correlation_id}")
    # the live list may gain a row between reading the link and clicking the first one
    page.goto(urljoin(page.url, href))
    expect(page.locator("h1")).to_contain_text(order_id)
    timeline = page.locator("#timeline table")
    expect(timeline).to_contain_text("decision", timeout=10_000)
    expect(timeline).to_contain_text(f"{order_id} created")
    expect(timeline).to_contain_text("fill")
    expect(page.locator("#orders tr.highlight")).to_contain_text(order_id)
    screenshot(page, "order-drill-down")

    assert quoted_as_the_api_quotes(demo, page)
    screenshot(page, "quotes")

    page.goto(demo.url + "/equities")
    if anvil_path() is not None:  # the demo runs its tokenized-equity part on a local node
        for symbol in ("AAPL", "MSFT", "NVDA"):
            expect(page.locator(f'#positions tr[data-id="{symbol}"]')).to_be_visible()
        expect(page.locator('[data-field="checkpoint"]')).to_contain_text("checkpoint block")
        expect(page.locator("#equities-none")).to_have_count(0)
    else:
        expect(page.locator("#equities-none")).to_contain_text("No equities are configured")
    screenshot(page, "equities")

    page.goto(demo.url + "/pnl")
    equity = page.locator('[data-field="equity"]')
    expect(equity).to_contain_text("BTC", timeout=10_000)
    last = api(demo, "/api/v1/pnl?window=24h")["points"][-1]
    # the simulator starts with 2 BTC of collateral and 1 BTC in the funding account
    assert Decimal("2.9") < Decimal(last["equity"]) < Decimal("3.1")
    screenshot(page, "pnl")


QUIET = """
[demo]
enabled = true
mean_interval_seconds = 100000.0
peg_replay_minutes_per_second = 0.05
"""


def test_a_lost_connection_and_a_stale_source_show_and_the_page_reconnects(
    tmp_path_factory: pytest.TempPathFactory, page: Page
) -> None:
    # The replay publishes one recorded minute every 20 s; sources are stale after 30 s of the
    # simulated clock (0.5 s at 60x): most of the time every source is stale.
    directory = tmp_path_factory.mktemp("browser-restart")
    port = free_port()
    running = start(directory, QUIET, port=port, wait="up")
    try:
        page.goto(running.url + "/")
        expect(page.locator("#conn-badge")).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator("#sources table")).to_contain_text("stale", timeout=10_000)
        expect(page.locator("#banner")).to_contain_text(
            "peg-monitor: every source is stale (3 sources)", timeout=10_000
        )
        expect(page.locator('#services li[data-service="peg-monitor"]')).to_have_attribute(
            "data-state", "not-ready"
        )
        screenshot(page, "stale-sources")

        stop(running)
        lost_at = time.monotonic()
        expect(page.locator("#conn-badge")).to_have_attribute(
            "data-state", "disconnected", timeout=5_000
        )
        expect(page.locator("#banner")).to_contain_text("Connection to pegkeeper lost")
        assert time.monotonic() - lost_at < 5
        screenshot(page, "disconnected")

        running = start(directory, QUIET, port=port, wait="up")
        expect(page.locator("#conn-badge")).to_have_attribute("data-state", "live", timeout=15_000)
        expect(page.locator("#banner")).not_to_contain_text("Connection to pegkeeper lost")
        # the page reloads its data from the restarted server: a change posted now shows
        memo = f"after the restart {uuid.uuid4().hex[:6]}"
        httpx.post(
            running.url + "/api/v1/liability/events",
            json={"id": uuid.uuid4().hex, "delta_cents": 4_200, "memo": memo},
            timeout=10,
        )
        expect(page.locator("#liability-events")).to_contain_text(memo, timeout=10_000)
        screenshot(page, "reconnected")
    finally:
        stop(running)


def quoted_as_the_api_quotes(demo: Running, page: Page) -> bool:
    """The quotes page shows what the API quotes. The demo quotes from the simulator's moving
    book, so the page's figure is checked against the API's just before and just after it
    was read, a few times over if the book moved twice meanwhile."""
    path = "/api/v1/quote?direction=buy&sats=100000"
    for _ in range(5):
        before = api(demo, path)["amount_in_cents"]
        page.goto(demo.url + "/quotes")
        field = page.locator('[data-field="buy-sats"]')
        expect(field).to_have_text(re.compile(r"^[\d,]+\.\d{2} USD$"), timeout=10_000)
        shown = field.inner_text()
        after = api(demo, path)["amount_in_cents"]
        if shown in {f"{cents / 100:,.2f} USD" for cents in (before, after)}:
            return True
    return False

"""`/docs` with the network cut off but for the local server, and the P&L page's components,
in headless chromium against `pegkeeper run`."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import screenshot
from tests.e2e.conftest import Running, start, stop

QUIET = """
[demo]
enabled = true
mean_interval_seconds = 100000.0
[funding]
enabled = false
"""


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(tmp_path_factory.mktemp("browser-docs"), QUIET)
    yield running
    stop(running)


def test_the_api_docs_render_with_no_network_beyond_localhost(
    instance: Running, page: Page
) -> None:
    refused: list[str] = []

    def local_only(route: Route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(instance.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("pegkeeper", timeout=15_000)
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/pnl").first).to_be_visible()
    assert refused == []
    screenshot(page, "docs-offline")


def test_the_pnl_page_shows_the_components_of_the_api(instance: Running, page: Page) -> None:
    page.goto(instance.url + "/pnl")
    total = page.locator('#components tr[data-component="total"]')
    expect(total.locator("[data-btc]")).to_contain_text("BTC", timeout=15_000)
    body = httpx.get(instance.url + "/api/v1/pnl?window=24h", timeout=10).json()
    assert set(body["components"]) == {
        "quote_income", "hedge", "funding", "trading_fees", "onchain_fees", "total",
    }  # fmt: skip
    for name in body["components"]:
        row = page.locator(f'#components tr[data-component="{name}"]')
        expect(row.locator("[data-usd]")).to_contain_text("USD")
    # the components add up to the total, and the total to the change of equity
    parts = [Decimal(body["components"][n]["btc"]) for n in ("hedge", "funding")]
    parts += [Decimal(body["components"][n]["btc"]) for n in ("trading_fees", "onchain_fees")]
    assert abs(sum(parts) - Decimal(body["components"]["total"]["btc"])) <= Decimal("4e-8")
    # without the funding manager no funding payment is recorded: what the venue settled
    # shows as the difference, never as a component
    r = body["reconciliation"]
    assert Decimal(body["components"]["funding"]["btc"]) == 0
    difference = Decimal(r["equity_change_btc"]) - Decimal(r["components_total_btc"])
    assert abs(difference - Decimal(r["difference_btc"])) <= Decimal("2e-8")
    expect(page.locator('[data-field="reconciliation"]')).to_contain_text("Equity change")
    screenshot(page, "pnl-components")

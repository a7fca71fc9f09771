"""`/docs` with the network cut off but for the local server, and the P&L page's components,
in headless chromium against `pegkeeper run`."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

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

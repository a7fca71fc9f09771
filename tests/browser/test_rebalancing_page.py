"""The Rebalancing page in headless chromium over the hand-worked records of
tests/rebalancing_web_support.py: the inventory bar of each asset against its band, the moves
with the halted one's action text, and an operator approving a proposal; the moves'
transactions on the transfers page.

Screenshots: artifacts/browser/rebalancing-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import screenshot
from tests.rebalancing_web_support import rebalancing_served
from tests.web_support import ALICE_TOKEN


@pytest.fixture
def url() -> Iterator[str]:
    with rebalancing_served() as served:
        yield served


def position(node: Locator) -> tuple[str, str]:
    """Where a part of the bar sits and how wide it is, as fractions of the bar (0 to 1)."""
    left, width = node.evaluate("n => [n.style.left, n.style.width]")
    return left, width


def test_the_inventory_bars_and_an_operator_approving_a_proposal(url: str, page: Page) -> None:
    page.goto(url + "/equities/rebalancing")
    aapl = page.locator('#inventory .inv-row[data-asset="AAPL"]')
    # onchain 30, broker 70: share 0.3, left of the 0.45-0.55 band
    expect(aapl.locator(".inv-share")).to_have_text("0.30", timeout=10_000)
    expect(aapl).to_have_class("inv-row outside")
    expect(aapl.locator(".inv-band")).to_have_text("0.45–0.55")
    expect(aapl.locator(".inv-state")).to_have_text("outside the band")
    assert position(aapl.locator(".marker")) == ("30%", "")
    assert position(aapl.locator(".zone.band")) == ("45%", "10%")
    tsla = page.locator('#inventory .inv-row[data-asset="TSLA"]')
    # onchain 10 + 2 in flight of 20: 0.6, inside 0.3-0.7
    expect(tsla).to_have_class("inv-row inside")
    expect(tsla.locator(".inv-in-flight")).to_have_text("2 shares")
    assert position(tsla.locator(".marker")) == ("60%", "")

    stuck = page.locator('#moves tr[data-id="m-msft"]')
    expect(stuck).to_have_class("halted")
    expect(page.locator('#moves tr[data-id="m-msft/halt"] .halt-action')).to_contain_text(
        "never send the tokens again"
    )
    expect(page.locator('#moves tr[data-id="m-tsla"] td.col-step')).to_contain_text(
        "accepted → tokens_received"
    )
    screenshot(page, "rebalancing-inventory")

    page.fill("#rb-token", ALICE_TOKEN)
    page.click("#rb-token-form button")
    expect(page.locator("#rb-who")).to_have_text("acting as alice")
    row = page.locator('#proposals tr[data-id="p-aapl"]')
    row.locator("button.approve").click()
    expect(page.locator("#rb-op-result")).to_have_text(
        "equities.rebalancing.approve by alice: done, proposal p-aapl (mint 20 shares) "
        "approved: the rebalancer executes it"
    )
    expect(row.locator("td.col-status")).to_have_text("approved by alice")
    expect(row.locator("button.approve")).to_have_count(0)
    screenshot(page, "rebalancing-approved")


def test_the_moves_transactions_on_the_transfers_page(url: str, page: Page) -> None:
    page.goto(url + "/orders")
    sent = page.locator('#move-transfers tr[data-id="m-msft/sent_to_redemption"]')
    expect(sent.locator(".col-tx")).to_have_attribute("title", f"0x{2:064x}", timeout=10_000)
    expect(sent.locator("td.num").first).to_have_text("5 shares")
    expect(page.locator('#move-transfers tr[data-id="m-tsla/requested"]')).to_contain_text(
        "req-tsla-1"
    )
    sent.locator("a").click()
    expect(page.locator("#move-id")).to_have_text("m-msft", timeout=10_000)
    expect(page.locator("#move-detail")).to_contain_text("0.07 USD")

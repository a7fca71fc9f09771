"""A held deposit on the Orders & transfers page, in headless chromium over the records of
tests/funding_web_support.py: its state with what the operator does about it.

Screenshot: artifacts/browser/transfers-held.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.funding_web_support import HELD, funding_served


@pytest.fixture
def url() -> Iterator[str]:
    with funding_served() as served:
        yield served


def test_a_held_deposit_says_how_to_settle_it(url: str, page: Page) -> None:
    page.goto(url + "/orders")
    held = page.locator(f'#transfers tr[data-id="{HELD}"]')
    expect(held.locator("td.state-held")).to_contain_text("held", timeout=10_000)
    expect(held.locator(".action-needed")).to_have_text(
        "check the wallet for a payment labelled pfheld1, then `pegkeeper funding settle "
        "pfheld1 --not-sent` if there is none, or `pegkeeper funding settle pfheld1 --sent "
        "TXID` with its transaction id"
    )
    expect(page.locator('#transfers tr[data-id="pfold1"] .action-needed')).to_have_count(0)
    screenshot(page, "transfers-held")

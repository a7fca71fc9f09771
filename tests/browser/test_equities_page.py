"""The Equities page in headless chromium, served over the hand-worked book of
tests/equities_book.py written into the SQL equity store: positions with exposure age and why
each waits, the chain ingestion, P&L by bucket and over time, the fill-to-hedge trail of a
chosen symbol, and an operator pausing one symbol.

Screenshots: artifacts/browser/equities-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import screenshot
from tests.equities_web_support import equities_served
from tests.web_support import ALICE_TOKEN


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with equities_served() as served:
        yield served


def cell(page: Page, symbol: str, column: str) -> Locator:
    return page.locator(f'#positions tr[data-id="{symbol}"] td.col-{column}')


def texts(rows: Locator, column: str) -> list[str]:
    return [t.strip() for t in rows.locator(f"td.col-{column}").all_inner_texts()]


def test_positions_with_exposure_age_and_why_each_waits(url: str, page: Page) -> None:
    page.goto(url + "/equities")
    expect(cell(page, "AAPL", "exposure")).to_have_text("−0.3", timeout=10_000)
    expect(page.locator("#equities-none")).to_have_count(0)
    expected = {
        "onchain": "−1.8",
        "hedged": "+1.5",
        "pending": "+0.3",
        "exposure-usd": "−45.60 USD",
        "age": "2.0 min",
        "waiting": "order pkaapl0002 working: buy 0.8, 0.5 filled",
        "in-flight": "pkaapl0002: buy 0.8, 0.5 filled (working)",
        "realised": "+1.20 USD",
        "unrealised": "0.00 USD",
    }
    for column, text in expected.items():
        expect(cell(page, "AAPL", column)).to_have_text(text)
    expect(page.locator('#positions tr[data-id="TSLA"]')).to_have_class("paused")
    expect(cell(page, "TSLA", "waiting")).to_have_text(
        "paused for this symbol by alice (earnings call)"
    )
    expect(cell(page, "TSLA", "age")).to_have_text("1.0 h")
    expect(cell(page, "TSLA", "exposure-usd")).to_have_text("+315.00 USD")
    expect(cell(page, "MSFT", "waiting")).to_have_text("below the 2 USD minimum")
    expect(cell(page, "NVDA", "exposure-usd")).to_have_text("–")
    expect(cell(page, "NVDA", "waiting")).to_have_text("–")
    # |-45.60| + 315.00 + 1.60: the USD left unhedged; TSLA's is the oldest
    expect(page.locator('[data-field="unhedged"]')).to_have_text("362.20 USD")
    expect(page.locator('[data-field="oldest"]')).to_have_text(
        "3 symbols open, the oldest for 1.0 h"
    )
    screenshot(page, "equities-positions")


def test_ingestion_ledger_and_skipped_logs(url: str, page: Page) -> None:
    page.goto(url + "/equities")
    expect(page.locator('[data-field="eq-lag"]')).to_have_text("6 blocks, 12 s", timeout=10_000)
    expect(page.locator('[data-field="lag"]')).to_have_text("6 blocks · 12 s")
    expect(page.locator("#card-chain")).to_have_class("card bad")  # a poll failed
    expect(page.locator('[data-field="eq-failures"]')).to_have_text(
        "1 in a row: eth_getLogs timed out after 10 s"
    )
    expect(page.locator('[data-field="eq-cutoff"]')).to_have_text("block 1296")
    expect(page.locator('[data-field="eq-ledger"]')).to_contain_text("every invariant held")
    expect(page.locator('[data-field="eq-broker"]')).to_contain_text(
        "dry-run: market regular, cash 25,000.00"
    )
    expect(page.locator('[data-field="eq-switches"]')).to_have_text("active")
    skipped = page.locator("#skipped tbody tr")
    expect(skipped).to_have_count(2)
    assert skipped.all_inner_texts() == ["not_our_order\t12", "unknown_token\t2"]


def test_pnl_by_bucket_and_over_time(url: str, page: Page) -> None:
    page.goto(url + "/equities")
    buckets = page.locator("#pnl-buckets")
    expect(buckets.locator('tr[data-bucket="counter_trade"] [data-usd]')).to_have_text(
        "+1.35 USD", timeout=10_000
    )
    expect(buckets.locator('tr[data-bucket="onchain_netting"] [data-usd]')).to_have_text(
        "+5.00 USD"
    )
    expect(buckets.locator('tr[data-bucket="directional_exposure"] [data-usd]')).to_have_text(
        "−0.15 USD"
    )
    expect(buckets.locator('tr[data-bucket="fees"] [data-usd]')).to_have_text("0.015 USD")
    expect(buckets.locator('tr[data-bucket="unrealised"] [data-usd]')).to_have_text("+15.00 USD")
    # the exact figures travel in data-value (6.185 would round either way on screen)
    values = {
        b: Decimal(buckets.locator(f'tr[data-bucket="{b}"]').get_attribute("data-value") or "")
        for b in ("net", "total")
    }
    assert values == {"net": Decimal("6.185"), "total": Decimal("21.185")}
    expect(page.locator('[data-field="unrealised"]')).to_have_text("+15.00 USD")
    # the chart: one point after each of the 9 trades, drawn by uPlot
    chart = page.locator("#chart-eq-pnl")
    expect(chart).to_have_attribute("data-points", "9")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(chart.locator(".u-legend")).to_contain_text("realised USD")
    symbols = page.locator("#pnl-symbols tbody tr")
    expect(symbols).to_have_count(4)
    expect(symbols.first).to_contain_text("AAPL")
    screenshot(page, "equities-pnl")


def test_the_fill_to_hedge_trail_of_the_chosen_symbol(url: str, page: Page) -> None:
    page.goto(url + "/equities")
    rows = page.locator("#trail tbody tr")
    expect(rows).to_have_count(10, timeout=10_000)  # AAPL first: 4 fills, 5 covers, 1 open
    assert [r.get_attribute("class") for r in rows.all()] == [
        "fill", "cover", "open", "fill", "cover", "cover", "fill", "cover", "fill", "cover",
    ]  # fmt: skip
    assert texts(rows, "shares") == [
        "0.5", "0.2 of 0.5", "0.3", "0.6", "0.3 of 1", "0.3 of 0.5", "0.4", "0.4 of 1", "0.3",
        "0.3 of 1",
    ]  # fmt: skip
    assert texts(rows, "captured")[:6] == ["", "+0.20 USD", "", "", "+0.15 USD", "−0.60 USD"]
    expect(rows.nth(1).locator("td.col-ref a")).to_have_attribute("href", "/orders/pkaapl0002")
    expect(rows.nth(0).locator("td.col-what")).to_have_text("sold onchain")
    # choosing TSLA in the positions table shows its trail: two fills, neither covered
    cell(page, "TSLA", "symbol").click()
    expect(page.locator("#trail")).to_have_attribute("data-symbol", "TSLA")
    expect(rows).to_have_count(4)
    assert texts(rows, "what") == [
        "sold onchain",
        "└ not covered yet",
        "bought onchain",
        "└ not covered yet",
    ]
    expect(page.locator("#trail-symbol")).to_have_value("TSLA")
    expect(page.locator('#positions tr[data-id="TSLA"]')).to_have_class("paused selected")
    page.select_option("#trail-symbol", "NVDA")
    expect(page.locator("#trail")).to_contain_text("no onchain fill of NVDA yet")
    screenshot(page, "equities-trail")


def test_an_operator_pauses_one_symbol_from_the_page(page: Page) -> None:
    with equities_served() as served:
        page.goto(served + "/equities")
        expect(cell(page, "AAPL", "waiting")).to_contain_text("order pkaapl0002", timeout=10_000)
        page.select_option("#eq-op-symbol", "AAPL")
        page.click("#eq-pause")  # no token yet: refused, nothing moves
        expect(page.locator("#eq-op-result")).to_contain_text("refused (401)")
        page.fill("#eq-token", ALICE_TOKEN)
        page.click("#eq-token-form button[type=submit]")
        expect(page.locator("#eq-who")).to_have_text("acting as alice")
        page.fill("#eq-note", "split tomorrow")
        page.click("#eq-pause")
        expect(page.locator("#eq-op-result")).to_have_text(
            "equities.pause by alice: done, AAPL paused: no broker order is sent until resumed"
        )
        expect(cell(page, "AAPL", "waiting")).to_have_text(
            "paused for this symbol by alice (split tomorrow)"
        )
        expect(page.locator('#positions tr[data-id="AAPL"]')).to_have_class("paused selected")
        # the header's badge is the dealer's switch, which no equity action moves
        expect(page.locator("#hedging-badge")).to_have_text("hedging active")
        page.goto("about:blank")  # the live stream closed before its server stops


def test_without_an_equity_hedger_the_page_says_so(page: Page) -> None:
    with equities_served(configured=False) as served:
        page.goto(served + "/equities")
        expect(page.locator("#equities-none")).to_contain_text(
            "No equities are configured", timeout=10_000
        )
        expect(page.locator("#equities-live")).to_be_hidden()
        page.goto("about:blank")

"""`pegkeeper equities` and `pegkeeper equities fills` against a served app over the
hand-worked book of tests/equities_book.py, written into the SQL equity store."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from pegkeeper.cli import app
from tests.equities_web_support import equities_served

runner = CliRunner()
WIDE = {"COLUMNS": "220"}  # no cell wraps


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with equities_served() as served:
        yield served


def cells(output: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is `first`."""
    for line in output.splitlines():
        parts = [p.strip() for p in line.split("│")[1:-1]]
        if parts and parts[0] == first:
            return parts
    raise AssertionError(f"no row {first!r} in:\n{output}")


def test_the_positions_table(url: str) -> None:
    result = runner.invoke(app, ["equities", "--url", url], env=WIDE)
    assert result.exit_code == 0, result.output
    out = result.output
    assert cells(out, "AAPL") == [
        "AAPL",
        "-1.8",
        "1.5",
        "0.3",
        "-0.3",
        "-45.60",
        "2 min 0 s",
        "order pkaapl0002 working: buy 0.8, 0.5 filled",
        "1.20",
        "0.00",
    ]
    assert cells(out, "TSLA (paused)") == [
        "TSLA (paused)",
        "1.5",
        "0",
        "0",
        "1.5",
        "315.00",
        "1 h 0 min",
        "paused for this symbol by alice (earnings call)",
        "5.00",
        "15.00",
    ]
    assert cells(out, "NVDA") == ["NVDA", "0", "0", "0", "0", "-", "-", "-", "0.00", "-"]
    assert cells(out, "MSFT")[5:8] == ["1.60", "30 s", "below the 2 USD minimum"]
    assert (
        "chain: checkpoint block 1290, 6 blocks (12 s) behind the cutoff; 1 poll failed in a "
        "row: eth_getLogs timed out after 10 s"
    ) in out
    assert "skipped logs: not_our_order 12, unknown_token 2" in out


def test_json_is_the_api_answer(url: str) -> None:
    result = runner.invoke(app, ["equities", "--url", url, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output) == httpx.get(url + "/api/v1/equities").json()


def test_the_fill_to_hedge_trail(url: str) -> None:
    result = runner.invoke(app, ["equities", "fills", "aapl", "--url", url], env=WIDE)
    assert result.exit_code == 0, result.output
    rows = [
        [p.strip() for p in line.split("│")[1:-1]]
        for line in result.output.splitlines()
        if line.startswith("│")
    ]
    # each onchain fill (newest first), then the broker fills that covered it, then the rest
    assert [r[1:] for r in rows] == [
        ["0x14141414…:0 block 1240", "onchain sold", "0.5", "152", ""],
        ["└ pkaapl0002/e2", "broker buy", "0.2 of 0.5", "151", "0.20"],
        ["└ not covered yet", "", "0.3", "", ""],
        ["0x13131313…:2 block 1000", "onchain sold", "0.6", "149", ""],
        ["└ pkaapl0001/e1", "broker buy", "0.3 of 1", "148.5", "0.15"],
        ["└ pkaapl0002/e2", "broker buy", "0.3 of 0.5", "151", "-0.60"],
        ["0x12121212…:0 block 880", "onchain sold", "0.4", "151", ""],
        ["└ pkaapl0001/e1", "broker buy", "0.4 of 1", "148.5", "1.00"],
        ["0x11111111…:1 block 850", "onchain sold", "0.3", "150", ""],
        ["└ pkaapl0001/e1", "broker buy", "0.3 of 1", "148.5", "0.45"],
    ]
    # block times in UTC: f4 two minutes before 2023-11-14T22:13:20Z, e2 a minute after it
    assert [r[0] for r in rows[:2]] == ["2023-11-14T22:11:20Z", "2023-11-14T22:12:20Z"]


def test_an_unknown_symbol_and_a_pegkeeper_without_equities(url: str) -> None:
    unknown = runner.invoke(app, ["equities", "fills", "XYZ", "--url", url])
    assert unknown.exit_code == 1
    assert "no equity symbol 'XYZ': the configured symbols are AAPL, MSFT, NVDA, TSLA" in (
        unknown.output
    )
    with equities_served(configured=False) as bare:
        table = runner.invoke(app, ["equities", "--url", bare])
        fills = runner.invoke(app, ["equities", "fills", "AAPL", "--url", bare])
    assert table.exit_code == 1 and "no equities are configured there" in table.output
    assert fills.exit_code == 1
    assert "the equity hedger does not run in this process" in fills.output

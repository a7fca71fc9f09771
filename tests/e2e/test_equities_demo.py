"""The embedded demo's tokenized-equity part, through `pegkeeper run` and its HTTP API only: a
local node (anvil) with takers filling the maker's orders, chain ingestion, the dry-run broker
hedging each fill; then Ctrl-C and a start on the same data directory, where the chain goes on
from the block the checkpoint had reached and no fill is reverted."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.anvil_chain import anvil_path, require
from tests.e2e.conftest import Running, start, stop

T = TypeVar("T")

DEMO_SYMBOLS = ["AAPL", "MSFT", "NVDA"]
DRY_RUN_MINIMUM_USD = Decimal(2)  # [equities] min_notional_usd's default
QUIET_FUNDING = "[funding]\nenabled = false\n"  # the dealer's transfers play no part here
HEDGED_FILLS = 3  # onchain fills covered by broker fills before the books are checked
WAIT_S = 120.0  # takers trade every 4 s or so, blocks come every second


def until(what: str, check: Callable[[], T | None], timeout_s: float = WAIT_S) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def overview(client: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/api/v1/equities").json()
    return body


def fills(client: httpx.Client) -> list[dict[str, Any]]:
    """Every onchain fill of the demo's symbols, with the broker fills covering it."""
    found: list[dict[str, Any]] = []
    for symbol in DEMO_SYMBOLS:
        answer = client.get(f"/api/v1/equities/{symbol}/fills", params={"limit": 1000})
        found += answer.json()["fills"]
    return found


def hedged(fill: dict[str, Any]) -> bool:
    return bool(fill["covers"]) and Decimal(fill["uncovered_shares"]) == 0


def flat(row: dict[str, Any]) -> bool:
    """No order in flight, and nothing left the dry-run broker would take."""
    exposure = Decimal(row["exposure"])
    if row["in_flight"] is not None:
        return False
    if exposure == 0:
        return True
    return abs(exposure) * Decimal(row["last_price_usd"]) < DRY_RUN_MINIMUM_USD


def flat_books(client: httpx.Client) -> dict[str, Any] | None:
    """The overview when every symbol is flat, else None."""
    body = overview(client)
    return body if all(map(flat, body["symbols"])) else None


def checkpoint(body: dict[str, Any]) -> int:
    block = body["ingestion"]["checkpoint_block"]
    return int(block) if block is not None else -1


def interrupt(running: Running) -> int:
    running.process.send_signal(signal.SIGINT)
    return running.process.wait(timeout=30)


def test_the_demo_hedges_onchain_fills_and_goes_on_after_a_restart(tmp_path: Path) -> None:
    require(anvil_path(), "anvil")
    first = start(tmp_path, QUIET_FUNDING)
    try:
        with first.client() as client:
            body = overview(client)
            assert body["configured"] is True
            assert [s["symbol"] for s in body["symbols"]] == DEMO_SYMBOLS
            started_at = checkpoint(body)

            until(
                f"{HEDGED_FILLS} onchain fills hedged by the dry-run broker",
                lambda: sum(map(hedged, fills(client))) >= HEDGED_FILLS,
            )
            settled = until(
                "every symbol flat after the broker's fills", lambda: flat_books(client)
            )
            assert checkpoint(settled) > started_at  # the chain is read as it grows
            assert settled["ingestion"]["consecutive_failures"] == 0
            for fill in fills(client):
                for cover in fill["covers"]:
                    assert Decimal(cover["price_usd"]) > 0  # a real price, not a constant
            before = {f["fill_id"]: f for f in fills(client)}
            stopped_at = checkpoint(overview(client))
    finally:
        code = interrupt(first)
    assert code == 0
    assert "Traceback" not in first.log.read_text()

    second = start(tmp_path, QUIET_FUNDING)
    try:
        with second.client() as client:
            assert checkpoint(overview(client)) >= stopped_at  # not read again from the start
            until(
                "the chain read on past the block where it stopped, with new fills",
                lambda: (
                    checkpoint(overview(client)) > stopped_at and len(fills(client)) > len(before)
                ),
            )
            after = {f["fill_id"]: f for f in fills(client)}
    finally:
        stop(second)
    assert "chain reorganised" not in second.log.read_text()
    assert set(before) <= set(after)
    assert [f for f in after.values() if f["reverted"]] == []
    for fill_id, fill in before.items():
        kept = after[fill_id]
        assert (kept["block_number"], kept["shares"], kept["usdc"]) == (
            fill["block_number"],
            fill["shares"],
            fill["usdc"],
        )

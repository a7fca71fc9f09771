"""What operators read of rebalancing over HTTP, on SQLite, over the hand-worked records of
tests/rebalancing_web_support.py written through the rebalancer's store: the inventory against
each band, the open proposals, the moves in flight and stuck with their steps and halts, the
history a page at a time with each move's costs, one move in detail, and the transfers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pegkeeper.domain.equities.moves import HALTS, Halt
from tests.rebalancing_web_support import RebalancingWorld, rebalancing_world
from tests.web_support import START_MS, web_world

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
T0 = START_MS - HOUR_MS  # the first move of the book
TSLA_AT = T0 + 30 * MINUTE_MS
MSFT_AT = T0 + 20 * MINUTE_MS


@pytest.fixture
async def world() -> AsyncIterator[RebalancingWorld]:
    async with rebalancing_world() as w:
        yield w


async def get(world: RebalancingWorld, path: str) -> Any:
    async with world.web.client() as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_inventory_of_each_asset_against_its_band(world: RebalancingWorld) -> None:
    body = await get(world, "/api/v1/equities/inventory")
    assert body["configured"] is True and body["now_ms"] == START_MS
    by_asset = {a["asset"]: a for a in body["assets"]}
    assert list(by_asset) == ["AAPL", "TSLA", "USD"]  # stocks by name, cash last
    read = {
        "block_number": 1200,
        "broker_stamp_ms": START_MS - 5_000,
        "read_at_ms": START_MS - 4_000,
    }
    # 30 / (30 + 70) = 0.3, band 0.5 -+ 0.05 = 0.45 to 0.55: outside, 0.2 below the target
    assert by_asset["AAPL"] == {
        "asset": "AAPL",
        "unit": "shares",
        "onchain": "30",
        "broker": "70",
        "in_flight": "0",
        "onchain_share": "0.3",
        "target": "0.5",
        "deviation": "0.05",
        "band_low": "0.45",
        "band_high": "0.55",
        "outside_band": True,
        "off_target": "-0.2",
        **read,
    }
    # (10 + 2 in flight to the chain) / 20 = 0.6, inside 0.3 to 0.7, 0.1 above the target
    tsla = by_asset["TSLA"]
    assert (tsla["onchain_share"], tsla["band_low"], tsla["band_high"]) == ("0.6", "0.3", "0.7")
    assert (tsla["outside_band"], tsla["off_target"], tsla["in_flight"]) == (False, "0.1", "2")
    # 4000 / 10000 = 0.4 against 0.6 -+ 0.05: outside, 0.2 below
    usd = by_asset["USD"]
    assert (usd["unit"], usd["band_low"], usd["band_high"]) == ("USD", "0.55", "0.65")
    assert (usd["outside_band"], usd["off_target"]) == (True, "-0.2")


async def test_open_proposals_moves_in_flight_and_stuck_and_switches(
    world: RebalancingWorld,
) -> None:
    body = await get(world, "/api/v1/equities/rebalancing")
    assert body["configured"] is True and body["operator_actions"] is True
    # p-tsla is executing (its move is open): only the proposed ones are open, newest first
    assert [(p["proposal_id"], p["kind"], p["amount"], p["status"]) for p in body["proposals"]] == [
        ("p-cash", "cash_to_chain", "2000", "proposed"),
        ("p-aapl", "mint", "20", "proposed"),
    ]
    assert body["proposals"][0]["unblocks"] == ["buy 12 AAPL"]
    (active,) = body["moves"]["active"]
    assert (active["move_id"], active["step"], active["waiting_for"]) == (
        "m-tsla",
        "accepted",
        "tokens_received",
    )
    # accepted at TSLA_AT + 21 ms (observed at +20, advanced at +21); tokens within 4 h
    assert active["step_at_ms"] == TSLA_AT + 21
    assert active["deadline_ms"] == TSLA_AT + 21 + 4 * HOUR_MS and active["overdue"] is False
    assert active["sequence"] == [
        "opened", "requested", "accepted", "tokens_received", "deposited", "completed"
    ]  # fmt: skip
    assert [(s["step"], s["request_id"], s["amount_asked"]) for s in active["steps"]] == [
        ("requested", "req-tsla-1", "2"),
        ("accepted", "tok-77", None),
    ]
    (stuck,) = body["moves"]["stuck"]
    unmatched = HALTS[Halt.REDEEM_UNMATCHED]
    assert (stuck["move_id"], stuck["status"], stuck["halt"]) == (
        "m-msft",
        "stuck",
        "redeem_unmatched",
    )
    assert (stuck["halt_what"], stuck["halt_action"]) == (unmatched.what, unmatched.action)
    assert stuck["error"] == "no redeem request after 4 h"
    assert stuck["cost_usd"] == "0.07"  # gas 0.03 + 0.04
    assert [(s["asset"], s["enabled"], s["executes"]) for s in body["switches"]] == [
        ("all", False, False),
        ("AAPL", False, False),
        ("TSLA", False, False),
        ("USD", False, False),
    ]


async def test_the_history_a_page_at_a_time_with_each_moves_costs(
    world: RebalancingWorld,
) -> None:
    first = await get(world, "/api/v1/equities/rebalancing?history_limit=2")
    page = first["history"]
    assert [m["move_id"] for m in page["moves"]] == ["m-tsla", "m-msft"]
    assert page["next_before_ms"] == MSFT_AT
    second = await get(world, f"/api/v1/equities/rebalancing?history_limit=2&before_ms={MSFT_AT}")
    done, failed = second["history"]["moves"]
    assert (done["move_id"], done["status"], done["waiting_for"]) == ("m-aapl-1", "completed", None)
    assert done["cost_usd"] == "0.62"  # fee 0.50 + gas 0.12
    assert [(c["step"], c["kind"], c["amount_usd"]) for c in done["costs"]] == [
        ("requested", "fee", "0.50"),
        ("deposited", "gas", "0.12"),
    ]
    assert (failed["move_id"], failed["status"], failed["halt"], failed["error"]) == (
        "m-aapl-0",
        "failed",
        "mint_rejected",
        "insufficient qty",
    )
    assert failed["halt_action"] == HALTS[Halt.MINT_REJECTED].action
    last = second["history"]["next_before_ms"]
    assert last == T0  # m-aapl-0 was the first
    third = await get(world, f"/api/v1/equities/rebalancing?history_limit=2&before_ms={last}")
    assert third["history"] == {"moves": [], "next_before_ms": None}


async def test_a_move_waiting_past_its_timeout_is_overdue(world: RebalancingWorld) -> None:
    world.web.clock.set(TSLA_AT + 21 + 4 * HOUR_MS + 1)
    body = await get(world, "/api/v1/equities/rebalancing")
    (active,) = body["moves"]["active"]
    assert active["overdue"] is True


async def test_one_move_with_its_changes_and_an_unknown_one(world: RebalancingWorld) -> None:
    move = await get(world, "/api/v1/equities/rebalancing/moves/m-msft")
    assert [(s["step"], s["tx_hash"], s["nonce"]) for s in move["steps"]] == [
        ("withdrawn_from_vault", f"0x{1:064x}", 1),
        ("sent_to_redemption", f"0x{2:064x}", 2),
    ]
    assert move["steps"][0]["amount_received"] == "5"
    assert [(e["step"], e["status"], e["halt"]) for e in move["events"]][-1] == (
        "sent_to_redemption",
        "stuck",
        "redeem_unmatched",
    )
    assert move["decisions"] == []  # no proposal: opened by the rebalancer
    async with world.web.client() as client:
        missing = await client.get("/api/v1/equities/rebalancing/moves/m-nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no rebalancing move 'm-nope'"


async def test_the_transfers_of_the_moves_with_hashes_and_amounts(
    world: RebalancingWorld,
) -> None:
    body = await get(world, "/api/v1/equities/rebalancing/transfers")
    assert body["available"] is True
    listed = [_transfer(t) for t in body["transfers"]]
    assert listed == [
        ("m-tsla", "accepted", "tok-77", None, None),
        ("m-tsla", "requested", "req-tsla-1", "2", None),
        ("m-msft", "sent_to_redemption", f"0x{2:064x}", "5", None),
        ("m-msft", "withdrawn_from_vault", f"0x{1:064x}", None, "5"),
        ("m-aapl-1", "deposited", f"0x{3:064x}", "10", "10"),
        ("m-aapl-1", "tokens_received", "0x" + "a1" * 32, None, "10"),
        ("m-aapl-1", "accepted", "tok-41", None, None),
        ("m-aapl-1", "requested", "req-aapl-1", "10", None),
        ("m-aapl-0", "requested", "req-aapl-0", None, None),
    ]
    sent = body["transfers"][2]
    assert (sent["move_status"], sent["signer"], sent["unit"]) == (
        "stuck",
        "0x" + "5a" * 20,
        "shares",
    )


def _transfer(t: dict[str, Any]) -> tuple[str, str, str, str | None, str | None]:
    reference = t["tx_hash"] or t["request_id"]
    return (t["move_id"], t["step"], reference, t["amount_asked"], t["amount_received"])


async def test_without_rebalancing_the_reads_say_so() -> None:
    async with web_world() as web, web.client() as client:
        assert (await client.get("/api/v1/equities/inventory")).json() == {
            "configured": False,
            "assets": [],
        }
        assert (await client.get("/api/v1/equities/rebalancing")).json() == {"configured": False}
        transfers = (await client.get("/api/v1/equities/rebalancing/transfers")).json()
        assert transfers == {"available": False, "transfers": []}
        assert (await client.get("/api/v1/equities/rebalancing/moves/m1")).status_code == 404

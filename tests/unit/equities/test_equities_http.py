"""The equity hedger's HTTP routes over the hand-worked book of tests/equities_book.py, read
from the SQL equity store it was written into (the store allocating, the domain's FIFO replay
making the P&L) and from the fake of the store: positions, the fill-to-hedge trail, P&L,
metrics, and the operator's pause and resume with the dealer's tokens and audit trail.

Decimals are compared by value (`numbers`): "1.20" from the hand-worked book, "1.200000"
from the FIFO replay's arithmetic, are the same amount."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from tests.equities_book import NOW_MS
from tests.equities_web_support import Repository, equities_world
from tests.web_support import ALICE_TOKEN, WebWorld, web_world

PAUSE = "/api/v1/equities/pause"
AAPL_F4 = "0x" + "14" * 32
AAPL_F3 = "0x" + "13" * 32


DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


@pytest.fixture(params=["sql", "fake"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[WebWorld]:
    repository: Repository = request.param
    async with equities_world(repository=repository) as w:
        yield w


def numbers(value: Any) -> Any:
    """`value` with every decimal string made a Decimal (compared by value)."""
    if isinstance(value, dict):
        return {k: numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers(v) for v in value]
    if isinstance(value, str) and DECIMAL.match(value):
        return Decimal(value)
    return value


async def test_each_symbol_with_its_exposure_age_reason_and_pnl(world: WebWorld) -> None:
    async with world.client() as client:
        body = (await client.get("/api/v1/equities")).json()
    assert body["configured"] is True and body["operator_actions"] is True
    assert body["now_ms"] == NOW_MS
    assert body["broker"] == {
        "broker": "dry-run",
        "ok": True,
        "problems": [],
        "checked_at_ms": NOW_MS,
        "session": "regular",  # the dry-run broker's market never closes
        "next_open_ms": (NOW_MS // 86_400_000 + 1) * 86_400_000,  # its next "day" at midnight UTC
        "account": "...-run",
        "cash_usd": "25000",
        "buying_power_usd": "25000",
    }
    aapl, msft, nvda, tsla = body["symbols"]
    assert numbers(aapl) == numbers(
        {
            "symbol": "AAPL",
            "onchain_net": "-1.8",
            "hedged": "1.5",
            "pending": "0.3",
            "exposure": "-0.3",
            "exposure_usd": "-45.60",
            "exposure_age_seconds": 120,
            "oldest_open_ms": NOW_MS - 120_000,
            "waiting_reason": "order pkaapl0002 working: buy 0.8, 0.5 filled",
            "paused": False,
            "last_price_usd": "152.000000",
            "realised_pnl_usd": "1.20",
            "fees_usd": "0.015",
            "unrealised_pnl_usd": "0.00",
            "in_flight": {
                "client_order_id": "pkaapl0002",
                "broker_order_id": "dry-2",
                "side": "buy",
                "quantity": "0.8",
                "filled": "0.5",
                "state": "working",
                "created_at_ms": NOW_MS - 115_000,
                "updated_at_ms": NOW_MS - 60_000,
                "message": "",
            },
        }
    )
    assert (msft["exposure_usd"], msft["waiting_reason"]) == ("1.60", "below the 2 USD minimum")
    assert nvda == {
        "symbol": "NVDA",
        "onchain_net": "0",
        "hedged": "0",
        "pending": "0",
        "exposure": "0",
        "exposure_usd": None,
        "exposure_age_seconds": None,
        "oldest_open_ms": None,
        "waiting_reason": "",
        "paused": False,
        "last_price_usd": None,
        "realised_pnl_usd": "0",
        "fees_usd": "0",
        "unrealised_pnl_usd": None,
        "in_flight": None,
    }
    assert (tsla["exposure"], tsla["exposure_usd"], tsla["exposure_age_seconds"]) == (
        "1.5",
        "315.00",
        3600,
    )
    assert numbers([tsla["paused"], tsla["realised_pnl_usd"], tsla["unrealised_pnl_usd"]]) == [
        True,
        5,
        15,
    ]
    assert body["ingestion"] == {
        "running": True,
        "checkpoint_block": 1290,
        "checkpoint_time_ms": NOW_MS - 20_000,
        "cutoff_block": 1296,
        "lag_blocks": 6,
        "lag_seconds": 12,
        "consecutive_failures": 1,
        "last_error": "eth_getLogs timed out after 10 s",
        "last_success_ms": NOW_MS - 25_000,
        "stalled": False,
        "skipped": {
            "undecodable": 0,
            "not_our_order": 12,
            "unknown_token": 2,
            "not_stock_usdc": 0,
            "zero_shares": 0,
            "non_positive_price": 0,
            "token_unreadable": 0,
        },
    }
    active = {"paused": False, "by": None, "since_ms": None, "note": ""}
    assert body["switches"] == {
        "global": active,
        "symbols": {
            "AAPL": active,
            "MSFT": active,
            "NVDA": active,
            "TSLA": {
                "paused": True,
                "by": "alice",
                "since_ms": NOW_MS - 7_200_000,
                "note": "earnings call",
            },
        },
    }
    assert body["ledger"] == {
        "checked_at_ms": NOW_MS,
        "last_error": "",
        "breaks": 0,
        "by_scope": {"order": 0, "fill": 0, "symbol": 0},
        "details": [],
    }


async def test_the_fill_to_hedge_trail_of_a_symbol(world: WebWorld) -> None:
    async with world.client() as client:
        trail = (await client.get("/api/v1/equities/aapl/fills?limit=2")).json()
        every = (await client.get("/api/v1/equities/AAPL/fills")).json()
        untraded = await client.get("/api/v1/equities/NVDA/fills")
    assert trail == {
        "symbol": "AAPL",
        "fills": [
            {
                "fill_id": f"{AAPL_F4}:0",
                "tx_hash": AAPL_F4,
                "block_number": 1240,
                "log_index": 0,
                "block_time_ms": NOW_MS - 120_000,
                "side": "sold",
                "shares": "0.5",
                "usdc": "76.000000",
                "price_usd": "152.000000",
                "reverted": False,
                "covered_shares": "0.2",
                "uncovered_shares": "0.3",
                "covers": [
                    {
                        "client_order_id": "pkaapl0002",
                        "broker_fill_id": "e2",
                        "shares": "0.2",
                        "side": "buy",
                        "fill_quantity": "0.5",
                        "price_usd": "151",
                        "fee_usd": "0.005",
                        "ts_ms": NOW_MS - 60_000,
                        "captured_usd": "0.20",  # (152 - 151) * 0.2
                    }
                ],
            },
            {
                "fill_id": f"{AAPL_F3}:2",
                "tx_hash": AAPL_F3,
                "block_number": 1000,
                "log_index": 2,
                "block_time_ms": NOW_MS - 600_000,
                "side": "sold",
                "shares": "0.6",
                "usdc": "89.400000",
                "price_usd": "149.000000",
                "reverted": False,
                "covered_shares": "0.6",
                "uncovered_shares": "0.0",
                "covers": [
                    {
                        "client_order_id": "pkaapl0001",
                        "broker_fill_id": "e1",
                        "shares": "0.3",
                        "side": "buy",
                        "fill_quantity": "1",
                        "price_usd": "148.5",
                        "fee_usd": "0.01",
                        "ts_ms": NOW_MS - 590_000,
                        "captured_usd": "0.15",  # (149 - 148.5) * 0.3
                    },
                    {
                        "client_order_id": "pkaapl0002",
                        "broker_fill_id": "e2",
                        "shares": "0.3",
                        "side": "buy",
                        "fill_quantity": "0.5",
                        "price_usd": "151",
                        "fee_usd": "0.005",
                        "ts_ms": NOW_MS - 60_000,
                        "captured_usd": "-0.60",  # (149 - 151) * 0.3
                    },
                ],
            },
        ],
    }
    # the four fills: every share of e1 (1) and of e2 (0.5) allocated once
    covers = [c for f in every["fills"] for c in f["covers"]]
    assert [f["fill_id"][-1] for f in every["fills"]] == ["0", "2", "0", "1"]
    assert sorted((c["broker_fill_id"], c["shares"]) for c in covers) == [
        ("e1", "0.3"),
        ("e1", "0.3"),
        ("e1", "0.4"),
        ("e2", "0.2"),
        ("e2", "0.3"),
    ]
    assert untraded.json() == {"symbol": "NVDA", "fills": []}


async def test_an_unknown_symbol_or_a_bad_limit_is_named(world: WebWorld) -> None:
    async with world.client() as client:
        unknown = await client.get("/api/v1/equities/XYZ/fills")
        zero = await client.get("/api/v1/equities/AAPL/fills?limit=0")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "detail": "no equity symbol 'XYZ': the configured symbols are AAPL, MSFT, NVDA, TSLA"
    }
    assert zero.status_code == 422 and zero.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_pnl_totals_by_bucket_and_symbol_and_over_time(world: WebWorld) -> None:
    async with world.client() as client:
        pnl = (await client.get("/api/v1/equities/pnl?max_points=3")).json()
    assert numbers({k: v for k, v in pnl.items() if k not in ("symbols", "points")}) == numbers(
        {
            "configured": True,
            "realised_usd": "6.20",
            "fees_usd": "0.015",
            "rebalancing_costs_usd": "0",
            "rebalancing_costs_by_kind_usd": {},
            "net_realised_usd": "6.185",
            "unrealised_usd": "15.000",
            "total_usd": "21.185",
            "buckets": {
                "counter_trade": "1.35",
                "onchain_netting": "5.00",
                "directional_exposure": "-0.15",
            },
        }
    )
    assert numbers(pnl["symbols"][0]) == numbers(
        {
            "symbol": "AAPL",
            "realised_usd": "1.20",
            "fees_usd": "0.015",
            "unrealised_usd": "0.00",
            "position_shares": "-0.3",
            "trades": 6,
            "buckets": {
                "counter_trade": "1.35",
                "onchain_netting": "0",
                "directional_exposure": "-0.15",
            },
        }
    )
    assert [s["symbol"] for s in pnl["symbols"]] == ["AAPL", "MSFT", "NVDA", "TSLA"]
    assert numbers(pnl["points"]) == numbers(
        [
            {"ts_ms": NOW_MS - 3_600_000, "realised_usd": "0", "fees_usd": "0", "net_usd": "0"},
            {"ts_ms": NOW_MS - 600_000, "realised_usd": "5.00", "fees_usd": "0", "net_usd": "5.00"},
            {
                "ts_ms": NOW_MS - 30_000,
                "realised_usd": "6.20",
                "fees_usd": "0.015",
                "net_usd": "6.185",
            },
        ]
    )


async def test_the_metrics_of_the_equity_hedger(world: WebWorld) -> None:
    async with world.client() as client:
        text = (await client.get("/metrics")).text
    expected = [
        "pegkeeper_equity_checkpoint_block 1290.0",
        "pegkeeper_equity_checkpoint_lag_blocks 6.0",
        "pegkeeper_equity_checkpoint_lag_seconds 12.0",
        "pegkeeper_equity_ingestion_failures 1.0",
        "pegkeeper_equity_ingestion_stalled 0.0",
        "pegkeeper_equity_oldest_unhedged_seconds 3600.0",  # TSLA's
        'pegkeeper_equity_unhedged_usd{symbol="AAPL"} -45.6',
        'pegkeeper_equity_unhedged_usd{symbol="TSLA"} 315.0',
        'pegkeeper_equity_unhedged_shares{symbol="MSFT"} 0.004',
        'pegkeeper_equity_unhedged_shares{symbol="NVDA"} 0.0',
        'pegkeeper_equity_paused{symbol="TSLA"} 1.0',
        'pegkeeper_equity_paused{symbol="AAPL"} 0.0',
        'pegkeeper_equity_skipped_logs{reason="not_our_order"} 12.0',
        'pegkeeper_equity_skipped_logs{reason="undecodable"} 0.0',
        'pegkeeper_equity_ledger_breaks{scope="symbol"} 0.0',
        "pegkeeper_equity_broker_ok 1.0",
        "pegkeeper_equity_broker_cash_usd 25000.0",
    ]
    lines = set(text.splitlines())
    assert [line for line in expected if line not in lines] == []
    (checked,) = [x for x in lines if x.startswith("pegkeeper_equity_broker_checked_timestamp")]
    assert float(checked.split()[1]) == NOW_MS / 1000
    assert 'pegkeeper_equity_unhedged_usd{symbol="NVDA"}' not in text  # no price yet


async def test_without_an_equity_hedger_the_routes_say_so() -> None:
    async with web_world() as bare, bare.client() as client:
        assert (await client.get("/api/v1/equities")).json() == {
            "configured": False,
            "symbols": [],
        }
        assert (await client.get("/api/v1/equities/pnl")).json() == {"configured": False}
        fills = await client.get("/api/v1/equities/AAPL/fills")
        paused = await client.post(
            PAUSE, json={}, headers={"authorization": f"Bearer {ALICE_TOKEN}"}
        )
        metrics = (await client.get("/metrics")).text
        assert await bare.store.operator_actions.recent(10) == []
    assert fills.status_code == 404
    assert fills.json() == {
        "detail": "no equity symbol 'AAPL': the equity hedger does not run in this process"
    }
    assert paused.status_code == 409
    assert paused.json() == {"error": "the equity hedger does not run in this process"}
    assert "pegkeeper_equity_" not in metrics

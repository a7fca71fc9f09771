"""The hedge loop end to end: `pegkeeper run` as a subprocess, through HTTP and the CLI."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Running, start, stop, wait_ready


def wait_for(client: httpx.Client, check: Any, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get("/api/v1/dealer").json()
        if check(body):
            return body
        time.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout_s} s; last dealer state: {body}")


def in_brackets(body: dict[str, Any]) -> bool:
    ratio = body["hedge_ratio"]
    return ratio is not None and Decimal("0.95") <= Decimal(ratio) <= Decimal("1.03")


def test_a_liability_change_is_hedged_and_recorded(quiet_instance: Running) -> None:
    # without OKX keys the demo runs the OKX adapter against the simulator, in-process
    assert "venue:   the OKX simulator in-process at http://127.0.0.1:" in (
        quiet_instance.log.read_text()
    )
    with quiet_instance.client() as client:
        posted = client.post(
            "/api/v1/liability/events", json={"id": "u1", "delta_cents": 1_000_000}
        )
        assert posted.status_code == 201
        body = wait_for(client, lambda b: b["position_contracts"] == "-98")
        # 10 000 USD owed: sell round(0.98 * 1 000 000 / 10 000) = 98 contracts of 100 USD
        assert body["liability_cents"] == 1_000_000 and body["exposure_cents"] == -980_000
        assert body["hedge_ratio"] == "0.9800" and in_brackets(body)
        assert Decimal(body["collateral_btc"]) > 0 and Decimal(body["btc_price_usd"]) > 0

        (order,) = client.get("/api/v1/orders").json()["orders"]
        assert order["state"] == "filled" and order["side"] == "sell"
        assert order["size_contracts"] == "98" and order["filled_contracts"] == "98"
        assert order["correlation_id"] == posted.json()["correlation_id"]
        decision = order["decision"]
        assert decision["liability_cents"] == 1_000_000 and decision["exposure_cents"] == 0
        assert decision["rule"] == "under-hedged-sell" and decision["trigger"] == "liability"
        assert len(order["fills"]) >= 1

        # the same id again is the same event: 200, and no new order
        again = client.post("/api/v1/liability/events", json={"id": "u1", "delta_cents": 1_000_000})
        assert again.status_code == 200
        time.sleep(0.5)
        assert len(client.get("/api/v1/orders").json()["orders"]) == 1

        # users sell back 6 000 USD: 4 000 USD left, short of 9 800 USD -> ratio 2.45 > 1.03:
        # buy round((980 000 - 400 000) / 10 000) = 58, leaving 40 contracts
        client.post("/api/v1/liability/events", json={"id": "u2", "delta_cents": -600_000})
        body = wait_for(client, lambda b: b["position_contracts"] == "-40")
        assert body["hedge_ratio"] == "1.0000"


def test_cli_posts_and_shows_status(quiet_instance: Running) -> None:
    added = quiet_instance.cli(
        "liability", "add", "--cents", "250000", "--id", "cli1", "--memo", "m"
    )
    assert added.returncode == 0, added.stderr
    assert "cli1 +250000 cents, liability 250000 cents" in added.stdout
    repeated = quiet_instance.cli("liability", "add", "--cents", "250000", "--id", "cli1")
    assert "already recorded" in repeated.stdout
    refused = quiet_instance.cli("liability", "add", "--cents", "-300000")
    assert refused.returncode == 1 and "negative" in refused.stderr
    with quiet_instance.client() as client:
        wait_for(client, lambda b: b["position_contracts"] == "-24")  # round(24.5) = 24 (to even)
    shown = quiet_instance.cli("status")
    assert shown.returncode == 0, shown.stderr
    assert "2,500.00 USD" in shown.stdout and "-24" in shown.stdout


def test_the_demo_users_move_the_liability_and_the_hedge_follows(tmp_path: Path) -> None:
    running = start(tmp_path, "[sim]\nspeed = 600.0\n[demo]\nmean_interval_seconds = 20.0\n")
    try:
        with running.client() as client:
            wait_for(client, lambda b: b["liability_cents"] > 0)
            deadline = time.monotonic() + 30
            while len(client.get("/api/v1/orders").json()["orders"]) < 3:
                assert time.monotonic() < deadline, "the hedger placed fewer than 3 orders"
                time.sleep(0.2)
            wait_for(client, in_brackets)
            # the demo also replays the March 2023 USDC depeg into the peg monitor
            pegs = {p["symbol"]: p for p in client.get("/api/v1/pegs").json()["pegs"]}
            assert pegs["USDC"]["price"] is not None and 0 <= pegs["USDC"]["score"] <= 10
            markets = {s["market"] for s in client.get("/api/v1/prices").json()["sources"]}
            assert markets == {"BTC/USD", "BTC/USDC", "BTC/USDT"}
    finally:
        stop(running)


def test_a_restart_keeps_the_ledger(tmp_path: Path) -> None:
    # the ledger across a restart, without the funding manager moving the collateral meanwhile
    extra = "[demo]\nenabled = false\n[funding]\nenabled = false\n"
    first = start(tmp_path, extra)
    with first.client() as client:
        client.post("/api/v1/liability/events", json={"id": "keep", "delta_cents": 700_000})
        wait_for(client, lambda b: b["position_contracts"] == "-69")  # round(68.6)
    stop(first)
    second = start(tmp_path, extra)
    try:
        wait_ready(second)
        with second.client() as client:
            # the simulated exchange starts flat again; the ledger is the truth and is re-hedged
            deadline = time.monotonic() + 30
            while True:
                orders = client.get("/api/v1/orders").json()["orders"]
                if len(orders) >= 2 and all(o["state"] == "filled" for o in orders):
                    break
                assert time.monotonic() < deadline, f"no re-hedge after restart: {orders}"
                time.sleep(0.1)
            assert [(o["side"], o["size_contracts"], o["state"]) for o in orders] == [
                ("sell", "69", "filled"),
                ("sell", "69", "filled"),
            ]
            assert client.get("/api/v1/dealer").json()["liability_cents"] == 700_000
    finally:
        stop(second)


def test_the_live_okx_book_feed_reaches_the_prices(tmp_path: Path) -> None:
    """`[market_data.okx]` pointed at a local server that speaks OKX's public WebSocket."""
    import asyncio
    import threading

    from tests.okx_ws_server import OkxWsServer, stablesats_messages

    loop = asyncio.new_event_loop()
    server = OkxWsServer(stablesats_messages())
    url = loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    # the recorded messages carry 2022 timestamps: allow that skew for this test
    extra = (
        "[demo]\nenabled = false\n"
        f'[market_data.okx]\nenabled = true\nurl = "{url}"\nmax_clock_skew_ms = 999999999999\n'
    )
    # the price server follows this feed, whose 2022 book is stale by its own timestamps, so
    # pegkeeper never becomes ready: wait for it to be up
    running = start(tmp_path, extra, wait="up")
    try:
        with running.client() as client:
            deadline = time.monotonic() + 20
            while True:
                sources = client.get("/api/v1/prices").json()["sources"]
                okx = [s for s in sources if s["exchange"] == "okx"]
                if okx:
                    break
                assert time.monotonic() < deadline, "no OKX book reached the prices"
                time.sleep(0.1)
        # best levels after the snapshot and updates 1-3 (see tests/integration/test_replay.py)
        (source,) = okx
        assert source["market"] == "BTC/USD-SWAP"
        assert (source["bid"], source["ask"]) == ("20276", "20276.1")
    finally:
        stop(running)
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

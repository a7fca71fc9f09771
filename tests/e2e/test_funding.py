"""The funding manager in `pegkeeper run`: the demo's simulated exchange and wallet, driven
through HTTP and the CLI only."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import start, stop


def wait_for(client: httpx.Client, path: str, check: Any, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    body: Any = None
    while time.monotonic() < deadline:
        body = client.get(path).json()
        if check(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"condition not met in {timeout_s} s; last {path}: {body}")


def operations(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in body["operations"] if o["kind"] == kind]


def test_the_collateral_goes_home_when_unhedged_and_comes_back_onchain(tmp_path: Path) -> None:
    """The stablesats rules end to end on the demo's simulated exchange and chain (at 300
    simulated seconds per second: a block every 2 s, a deposit confirmed in 2 s more)."""
    running = start(tmp_path, "[demo]\nenabled = false\n[sim]\nspeed = 300.0\n")
    try:
        with running.client() as client:
            # nothing owed: the 2 BTC of trading collateral go to funding (rule 3), then the
            # 3 BTC there go home, less the 0.0001 BTC withdrawal fee (rule 4)
            body = wait_for(client, "/api/v1/funding", lambda b: operations(b, "withdrawal"))
            (out,) = operations(body, "transfer_to_funding")
            (home,) = operations(body, "withdrawal")
            assert (out["amount"], out["state"]) == ("2.00000000", "done")
            assert home["amount"] == "2.99990000" and home["fee"] == "0.0001"
            posted = client.post(
                "/api/v1/liability/events", json={"id": "u1", "delta_cents": 1_000_000}
            )
            assert posted.status_code == 201
            # 10 000 USD owed, nothing at the exchange: an onchain deposit of a third of the
            # liability plus the 1 BTC funding buffer, with 1 to 1 000 sats of jitter (rule 1)
            body = wait_for(  # once it is sent: the operation is stored first, then sent
                client,
                "/api/v1/funding",
                lambda b: any(op["tx_id"] for op in operations(b, "deposit")),
            )
            (deposit,) = operations(body, "deposit")
            price = Decimal(body["decisions"][0]["price_usd"])
            third = (Decimal(1_000_000) / (price * 100) / 3).quantize(Decimal("0.00000001"))
            jitter = Decimal(deposit["amount"]) - third - 1
            assert Decimal("0.00000001") <= jitter <= Decimal("0.00001"), (deposit, price)
            assert deposit["state"] in ("pending", "done")  # confirmed within 2 s at this speed
            # the hedger waits for the collateral rather than be refused; then one order
            dealer = wait_for(
                client, "/api/v1/dealer", lambda b: b["position_contracts"] == "-98", 60
            )
            assert dealer["hedge_ratio"] == "0.9800"
            (order,) = client.get("/api/v1/orders").json()["orders"]
            assert order["state"] == "filled" and order["size_contracts"] == "98"
            assert order["correlation_id"] == posted.json()["correlation_id"]
            body = wait_for(
                client,
                "/api/v1/funding",
                lambda b: operations(b, "deposit")[0]["state"] == "done",
                60,
            )
            assert operations(body, "deposit")[0]["venue_id"]  # matched in the history
            assert operations(body, "transfer_to_trading")[0]["state"] == "done"
            (account,) = body["accounts"]
            live = account["live"]
            assert account["policy"] == "stablesats" and live["liquidation_source"] == "venue"
            assert Decimal(live["leverage"]) <= Decimal("3.6")
            assert Decimal(live["liquidation_distance_pct"]) > 30
            assert body["wallet"] == "sim" and body["wallet_balance_sats"] > 0
        shown = running.cli("funding")
        assert shown.returncode == 0, shown.stderr
        assert "leverage (at the mark)" in shown.stdout and "deposit" in shown.stdout
    finally:
        stop(running)

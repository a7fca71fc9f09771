"""`pegkeeper run` on a Galoy dealer account: the liability from its transactions, hedged."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Running, start, stop
from tests.e2e.test_hedge_loop import wait_for
from tests.galoy_server import CODE, PHONE, galoy_in_thread, trade


def config(url: str) -> str:
    return (
        "[demo]\nenabled = false\n"
        f'[ledger]\nsource = "galoy"\n[ledger.galoy]\napi_url = "{url}"\nphone = "{PHONE}"\n'
        "poll_interval_seconds = 0.1\n"
    )


def ledger_readiness(running: Running, check: Any, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            response = httpx.get(running.url + "/readyz", timeout=5)
        except httpx.HTTPError:  # not listening yet
            time.sleep(0.05)
            continue
        body = {"status_code": response.status_code, **response.json()}
        if check(body):
            return body
        time.sleep(0.05)
    raise AssertionError(f"readiness not reached in {timeout_s} s; last: {body}")


def test_the_liability_of_a_galoy_dealer_is_hedged_and_waits_on_a_half_read_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now_s = int(time.time())
    with galoy_in_thread() as galoy:
        galoy.ledger.add(*trade(-1_000_000, 40_000_000, now_s - 30))  # a user buys 10 000 USD
        monkeypatch.setenv("PEGKEEPER_LEDGER__GALOY__CODE", CODE)
        running = start(tmp_path, config(galoy.url))
        try:
            with running.client() as client:
                # 10 000 USD owed: sell round(0.98 * 1 000 000 / 10 000) = 98 contracts
                body = wait_for(client, lambda b: b["position_contracts"] == "-98")
                assert body["liability_cents"] == 1_000_000
                assert body["ledger"]["source"] == "galoy" and body["ledger"]["ready"]

                # a user sells 2 500 USD back: 750 000 owed, over-hedged at 9 800 / 7 500;
                # buy round(980 000 - 750 000) / 10 000) = 23 contracts back
                galoy.ledger.add(*trade(250_000, 10_000_000, now_s - 20))
                body = wait_for(client, lambda b: b["position_contracts"] == "-75")
                assert body["liability_cents"] == 750_000

                # two trades half-imported: the BTC legs are read, the USD legs not yet
                btc_a, usd_a = trade(-300_000, 12_000_000, now_s - 10)
                btc_b, usd_b = trade(-200_000, 8_000_000, now_s - 5)
                galoy.ledger.add(btc_a, btc_b)
                waiting = ledger_readiness(running, lambda b: b["status_code"] == 503)
                assert waiting["services"]["ledger"].startswith(
                    "the galoy ledger is half-imported: 2 transaction(s) without their other leg"
                )
                status = running.cli("status")
                assert "waiting: the galoy ledger is half-imported" in " ".join(
                    status.stdout.split()
                )
                time.sleep(0.5)
                assert client.get("/api/v1/dealer").json()["position_contracts"] == "-75"

                galoy.ledger.add(usd_a, usd_b)  # 750 000 + 300 000 + 200 000 = 1 250 000
                ledger_readiness(running, lambda b: b["status_code"] == 200)
                body = wait_for(client, lambda b: b["liability_cents"] == 1_250_000)
                # 7 500 / 12 500 = 0.6 < 0.95: sell round((0.98 * 1 250 000 - 750 000) / 10 000)
                # = round(47.5) = 48 contracts (halves to even)
                body = wait_for(client, lambda b: b["position_contracts"] == "-123")
                events = client.get("/api/v1/liability").json()["events"]
                assert {e["source"] for e in events} == {"galoy"} and len(events) == 4
        finally:
            stop(running)
        assert galoy.ledger.logins == 1
        assert CODE not in running.log.read_text()


def test_wrong_credentials_stop_the_source_and_turn_readiness_red(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with galoy_in_thread() as galoy:
        monkeypatch.setenv("PEGKEEPER_LEDGER__GALOY__CODE", "000111")
        running = start(tmp_path, config(galoy.url), wait="none")
        try:
            body = ledger_readiness(
                running,
                lambda b: (
                    b["services"].get("ledger", "").startswith("the galoy ledger source stopped")
                ),
            )
            assert body["status_code"] == 503
            assert "refused the login of phone +15***01" in body["services"]["ledger"]
            time.sleep(0.5)
            assert galoy.ledger.failed_logins == 1 and running.process.poll() is None
        finally:
            stop(running)
        log = running.log.read_text()
        assert "the galoy ledger source stopped" in log and "000111" not in log

"""The price and quote servers of `pegkeeper run`, from a gRPC client built from the protos:
prices from the bundled stablesats book, a quote accepted, and the hedger following it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pegkeeper.api.grpc.pb import price_grpc, price_pb2, quotes_grpc, quotes_pb2
from pegkeeper.bootstrap.pricing import bundled_book_path
from tests.e2e.conftest import Running, start, stop
from tests.e2e.test_hedge_loop import wait_for
from tests.grpc_support import write_book


@pytest.fixture
def bundled_book_instance(tmp_path: Path) -> Iterator[Running]:
    """The quiet demo quoting from the bundled stablesats book, whose numbers are known (the
    demo itself quotes from the simulator's moving book)."""
    running = start(
        tmp_path,
        f'[market_data]\nokx_book_file = "{bundled_book_path()}"\n'
        "[demo]\nenabled = false\n[funding]\nenabled = false\n",
    )
    yield running
    stop(running)


def test_a_wallet_gets_a_price_and_a_quote_and_the_hedge_follows(
    bundled_book_instance: Running,
) -> None:
    quiet_instance = bundled_book_instance
    with grpc.insecure_channel(quiet_instance.price_address) as channel:
        price = price_grpc.PriceServiceStub(channel)
        # the bundled stablesats book's best bid is 20 276 x 845: 10^6 sats are 20 276 cents
        # of bids; floor(20 276 * 0.999) = 20 255
        answer = price.GetCentsFromSatsForImmediateBuy(
            price_pb2.GetCentsFromSatsForImmediateBuyRequest(amount_in_satoshis=10**6), timeout=10
        )
        assert answer.amount_in_cents == 20_255
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING

    with grpc.insecure_channel(quiet_instance.quote_address) as channel:
        quotes = quotes_grpc.QuoteServiceStub(channel)
        quote = quotes.GetQuoteToBuyUsd(
            quotes_pb2.GetQuoteToBuyUsdRequest(amount_to_buy_in_cents=1_000_000), timeout=10
        )
        assert quote.amount_to_buy_in_cents == 1_000_000 and not quote.executed
        assert quote.expires_at > time.time() + 100
        quotes.AcceptQuote(quotes_pb2.AcceptQuoteRequest(quote_id=quote.quote_id), timeout=10)
        try:
            quotes.AcceptQuote(quotes_pb2.AcceptQuoteRequest(quote_id=quote.quote_id), timeout=10)
            raise AssertionError("a second accept went through")
        except grpc.RpcError as error:
            assert isinstance(error, grpc.Call)
            assert error.code() is grpc.StatusCode.FAILED_PRECONDITION

    with quiet_instance.client() as client:
        # 10 000 USD owed: the hedger sells round(0.98 * 1 000 000 / 10 000) = 98 contracts
        body = wait_for(client, lambda b: b["position_contracts"] == "-98")
        assert body["liability_cents"] == 1_000_000
        (event,) = client.get("/api/v1/liability").json()["events"]
        assert (event["id"], event["source"]) == (quote.quote_id, "quote")


def test_the_cli_asks_the_running_servers(bundled_book_instance: Running) -> None:
    quiet_instance = bundled_book_instance
    grpc_url = ["--url", quiet_instance.price_address]
    shown = quiet_instance.cli_only("price", "--buy", "--sats", "1000000", *grpc_url)
    assert shown.returncode == 0, shown.stderr
    assert "1000000 sats -> 20255 cents  (GetCentsFromSatsForImmediateBuy)" in shown.stdout
    mid = quiet_instance.cli_only("price", "--mid", "--json", *grpc_url)
    assert json.loads(mid.stdout) == {"ratio_in_cents_per_satoshis": 0.02027605}

    quote_url = ["--url", quiet_instance.quote_address]
    made = quiet_instance.cli_only("quote", "--buy", "--cents", "250000", "--json", *quote_url)
    assert made.returncode == 0, made.stderr
    quote = json.loads(made.stdout)
    accepted = quiet_instance.cli_only("accept-quote", quote["quote_id"], *quote_url)
    assert accepted.returncode == 0 and quote["quote_id"] in accepted.stdout
    again = quiet_instance.cli_only("accept-quote", quote["quote_id"], *quote_url)
    assert again.returncode == 1 and "FAILED_PRECONDITION" in again.stderr
    with quiet_instance.client() as client:
        wait_for(client, lambda b: b["liability_cents"] == 250_000)
        mirrored = client.get("/api/v1/quote", params={"direction": "buy", "sats": 1_000_000})
        assert mirrored.json()["amount_in_cents"] == 20_255
        refused = client.get("/api/v1/quote", params={"direction": "buy", "sats": 0})
        assert refused.status_code == 422


def test_a_stale_feed_makes_the_price_server_unavailable(tmp_path: Path) -> None:
    """The live feed configured but silent: no book, UNAVAILABLE naming the source."""
    extra = '[demo]\nenabled = false\n[market_data.okx]\nenabled = true\nurl = "ws://127.0.0.1:9"\n'
    running = start(tmp_path, extra, services=("price-server", "web"), wait="up")
    try:
        ready = httpx.get(running.url + "/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["status"] == "not ready"
        assert (
            "from the OKX live books feed: no book yet" in ready.json()["services"]["price-server"]
        )
        assert ready.json()["services"]["web"] == "ready"
        with grpc.insecure_channel(running.price_address) as channel:
            price = price_grpc.PriceServiceStub(channel)
            try:
                price.GetCentsPerSatsExchangeMidRate(
                    price_pb2.GetCentsPerSatsExchangeMidRateRequest(), timeout=10
                )
                raise AssertionError("a price without a book")
            except grpc.RpcError as error:
                assert isinstance(error, grpc.Call)
                assert error.code() is grpc.StatusCode.UNAVAILABLE
                assert "from the OKX live books feed: no book yet" in str(error.details())
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        stop(running)


def test_a_book_file_from_the_config(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.json", [("1000", "1000000000")], [("10000", "1000000000")])
    extra = f'[demo]\nenabled = false\n[market_data]\nokx_book_file = "{book}"\n'
    running = start(tmp_path, extra, services=("price-server", "web"))
    try:
        with grpc.insecure_channel(running.price_address) as channel:
            answer = price_grpc.PriceServiceStub(channel).GetCentsFromSatsForImmediateBuy(
                price_pb2.GetCentsFromSatsForImmediateBuyRequest(amount_in_satoshis=10**8),
                timeout=10,
            )
        assert answer.amount_in_cents == 99_900  # the spec's worked example
    finally:
        stop(running)

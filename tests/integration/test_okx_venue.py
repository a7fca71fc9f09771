"""The OKX adapter through ccxt against the OKX simulator as a real local server: the port,
the funding calls, the account checks at start, and how each failure is translated."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import aiohttp
import pytest
import structlog.testing

from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.venues.okx import OkxCredentials, OkxVenue
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.errors import (
    NotFound,
    OrderRejected,
    PositionAlreadyClosed,
    VenueMisconfigured,
    VenueUnavailable,
    VenueUncertain,
)
from pegkeeper.domain.instruments import BTC_USD_SWAP, BTC_USDT_SWAP, ContractType, InstrumentKind
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.domain.venue import VenueResync
from tests.okx_sim import RunningSim, running_sim
from tests.okx_world import FAST_VENUE, okx_venue, venue_for

SWAP = "BTC-USD-SWAP"


def market(client_id: str, side: OrderSide, contracts: int, inst: str = SWAP) -> OrderIntent:
    return OrderIntent(client_id, inst, OrderKind.MARKET, side, Decimal(contracts), "d", "c", 0)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim() as running:
        yield running


async def test_instruments_positions_and_balances_through_the_port(sim: RunningSim) -> None:
    async with okx_venue(sim) as venue:
        swap = await venue.instrument(SWAP)
        assert swap == BTC_USD_SWAP
        linear = await venue.instrument("BTC-USDT-SWAP")
        assert (linear.contract_type, linear.lot_size_contracts) == (
            ContractType.LINEAR,
            Decimal("0.01"),
        )
        assert linear.contract_value == BTC_USDT_SWAP.contract_value
        future_ids = [
            i for i in sim.engine.live_instrument_ids if i.count("-") == 2 and "SWAP" not in i
        ]
        future = await venue.instrument(future_ids[0])
        assert future.kind is InstrumentKind.FUTURE and future.expiry_ms is not None
        with pytest.raises(NotFound):
            await venue.instrument("BTC-EUR-SWAP")
        flat = await venue.position(SWAP)
        assert flat.size_contracts == 0 and flat.mark_price_usd == Decimal("7938.39")
        report = await venue.place_market_order(market("pk1", OrderSide.SELL, 98))
        assert report.state is OrderState.FILLED and report.filled_contracts == 98
        assert report.avg_price_usd == Decimal("7937.89") and len(report.fills) == 1
        assert report.fills[0].fee > 0 and report.fills[0].fee_currency == "BTC"
        assert await venue.order(SWAP, "pk1") == report
        short = await venue.position(SWAP)
        assert short.size_contracts == -98 and short.avg_price_usd == Decimal("7937.89")
        balances = await venue.balances("BTC")
        assert (
            balances.funding_balance == 1
            and 0 < balances.trading_available < balances.trading_equity
        )
        closed = await venue.close_position(
            OrderIntent("pk2", SWAP, OrderKind.CLOSE_POSITION, None, Decimal(0), "d", "c", 0)
        )
        assert closed.state is OrderState.FILLED and closed.filled_contracts == 98
        assert (await venue.position(SWAP)).size_contracts == 0


async def test_limit_orders_rest_and_are_canceled(sim: RunningSim) -> None:
    async with okx_venue(sim) as venue:
        intent = OrderIntent(
            "lim1",
            SWAP,
            OrderKind.POST_ONLY,
            OrderSide.BUY,
            Decimal(3),
            "d",
            "c",
            0,
            Decimal("7000.0"),
        )
        resting = await venue.place_limit_order(intent)
        assert resting.state is OrderState.ACCEPTED
        assert [o.client_order_id for o in await venue.open_orders(SWAP)] == ["lim1"]
        canceled = await venue.cancel_order(SWAP, "lim1")
        assert canceled.state is OrderState.CANCELED and await venue.open_orders(SWAP) == []
        with pytest.raises(OrderRejected) as again:
            await venue.cancel_order(SWAP, "lim1")
        assert again.value.code == "51401"
        with pytest.raises(NotFound):
            await venue.cancel_order(SWAP, "never")


async def test_transfers_deposits_withdrawals_and_funding(sim: RunningSim) -> None:
    async with okx_venue(sim) as venue:
        moved = await venue.funding.transfer("tr1", "BTC", Decimal("0.3"), "funding", "trading")
        assert (moved.venue_state, moved.from_account, moved.amount) == (
            "success",
            "funding",
            Decimal("0.3"),
        )
        assert await venue.funding.transfer_state("tr1") == moved
        with pytest.raises(NotFound):
            await venue.funding.transfer_state("tr404")
        with pytest.raises(OrderRejected) as short:
            await venue.funding.transfer("tr2", "BTC", Decimal(5), "funding", "trading")
        assert short.value.code == "58350"
        address = await venue.funding.deposit_address("BTC")
        sim.engine.wallet.receive(Decimal("0.2"), "BTC", sim.exchange.clock.now_ms())
        (deposit,) = await venue.funding.deposits("BTC")
        assert deposit.address == address and not deposit.is_credited
        sent = await venue.funding.withdraw("wd1", "BTC", Decimal("0.1"), "bc1qcold", "BTC-Bitcoin")
        assert sent.client_id == "wd1" and not sent.succeeded and not sent.failed
        assert sim.engine.balances("BTC").funding_balance == Decimal("0.6") - Decimal("0.0001")
        rate = await venue.funding.funding_rate(SWAP)
        assert rate.rate == Decimal("0.0001") and rate.next_funding_time_ms


@pytest.mark.parametrize(
    ("terms", "given"),
    [
        ({"chain": "BTC-Lightning"}, "chain 'BTC-Lightning' to '6'"),
        ({"to": "18"}, "chain 'BTC-Bitcoin' to '18'"),
    ],
)
async def test_a_deposit_address_on_another_chain_or_account_is_refused(
    sim: RunningSim, terms: dict[str, str], given: str
) -> None:
    async with aiohttp.ClientSession() as http:
        url = sim.rest_url + "/sim/v1/deposit-address"
        async with http.post(url, json={"ccy": "BTC", **terms}) as answer:
            assert answer.status == 200
    async with okx_venue(sim) as venue:
        with pytest.raises(NotFound) as refused:
            await venue.funding.deposit_address("BTC")
    assert str(refused.value) == (
        "OKX gave no BTC deposit address on chain BTC-Bitcoin credited to the funding account "
        f"(to 6); it gave: {given}. Set the funding account as the deposit destination in OKX"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"position_mode": "long_short_mode"}, "switch it to one-way (net_mode)"),
        ({"account_level": 3}, "the account level (acctLv) is 3: set it to 2"),
        ({"leverage": 10}, "the cross leverage of BTC-USD-SWAP is 10: set it to 4"),
    ],
)
async def test_the_account_check_refuses_and_says_what_to_change(
    sim: RunningSim, change: dict[str, object], message: str
) -> None:
    engine = sim.engine
    if "leverage" in change:
        engine.set_leverage(int(str(change["leverage"])), SWAP)
    else:
        engine.position_mode = str(change.get("position_mode", engine.position_mode))
        engine.account_level = int(str(change.get("account_level", engine.account_level)))
    venue = venue_for(sim)
    try:
        with pytest.raises(
            VenueMisconfigured, match=message.replace("(", r"\(").replace(")", r"\)")
        ):
            await venue.start()
    finally:
        await venue.close()


async def test_placement_failures_become_rejected_unavailable_or_uncertain(sim: RunningSim) -> None:
    async with okx_venue(sim) as venue:
        sim.faults.set("reject_order", "1")
        with pytest.raises(OrderRejected) as rejected:
            await venue.place_market_order(market("f1", OrderSide.SELL, 1))
        assert rejected.value.code == "51008"
        for fault, expected in [
            ("http_429", VenueUnavailable),
            ("code_50011", VenueUnavailable),
            ("http_5xx", VenueUncertain),  # a 5xx on placement may have been processed
        ]:
            sim.faults.set(fault, "1:orders")
            with pytest.raises(expected):
                await venue.place_market_order(
                    market(f"f{fault.replace('_', '')}", OrderSide.SELL, 1)
                )
        with pytest.raises(NotFound) as missing:
            await venue.order(SWAP, "fhttp5xx")  # refused before processing: unknown there
        assert missing.value.code == "51603"
        # outcome unknown, but processed: uncertain here; the execution core looks the client
        # id up (tests/unit/test_execution.py), and the venue knows it by that id
        sim.faults.set("http_5xx_after_accept", "1:orders")
        with pytest.raises(VenueUncertain):
            await venue.place_market_order(market("fafter", OrderSide.SELL, 1))
        found = await venue.order(SWAP, "fafter")
        assert found.state is OrderState.FILLED
        sim.faults.set_many({"timeout_after_accept": "1", "hang_seconds": "3"})
        with pytest.raises(VenueUncertain, match="RequestTimeout"):
            await venue.place_market_order(market("ftimeout", OrderSide.SELL, 1))
        found = await venue.order(SWAP, "ftimeout")
        assert found.state is OrderState.FILLED
        # the same client id again is refused as a duplicate (51016): it went through before,
        # so the answer is uncertain and the execution core looks it up, never a second order
        with pytest.raises(VenueUncertain, match="exists at the venue already"):
            await venue.place_market_order(market("ftimeout", OrderSide.SELL, 1))
        assert sim.position_contracts() == -2  # after-accept 5xx, timeout: each executed once
        assert sim.requests_for("ftimeout") == 2 and sim.requests_for("fafter") == 1
        with pytest.raises(OrderRejected) as closed:
            await venue.close_position(
                OrderIntent(
                    "c1", "BTC-USDT-SWAP", OrderKind.CLOSE_POSITION, None, Decimal(0), "d", "c", 0
                )
            )
        assert closed.value.code == "51023"


def close(client_id: str, inst: str = SWAP) -> OrderIntent:
    return OrderIntent(client_id, inst, OrderKind.CLOSE_POSITION, None, Decimal(0), "d", "c", 0)


async def test_okx_51023_is_position_already_closed_as_at_the_simulated_venue(
    sim: RunningSim,
) -> None:
    in_process = SimVenue(sim.engine, sim.exchange.clock)
    async with okx_venue(sim) as venue:
        with pytest.raises(PositionAlreadyClosed) as over_the_wire:
            await venue.close_position(close("pc1"))
        with pytest.raises(PositionAlreadyClosed) as beside_it:
            await in_process.close_position(close("pc2"))
        assert over_the_wire.value.code == beside_it.value.code == "51023"
        await venue.place_market_order(market("pc3", OrderSide.SELL, 5))
        closed = await venue.close_position(close("pc4"))
        assert closed.state is OrderState.FILLED and closed.filled_contracts == 5
        with pytest.raises(PositionAlreadyClosed):
            await venue.close_position(close("pc5"))
        # any other refusal stays a plain refusal: only 51023 means the goal is reached
        with pytest.raises(OrderRejected) as refused:
            await venue.place_market_order(market("pc6", OrderSide.SELL, 10**7))
        assert not isinstance(refused.value, PositionAlreadyClosed)
        assert refused.value.code == "51008"


async def test_reads_are_retried_and_rate_limits_pause_the_budget(sim: RunningSim) -> None:
    # a pause long enough that a loaded machine's scheduling lag cannot hide it
    async with okx_venue(sim, replace(FAST_VENUE, rate_limit_pause_seconds=1.0)) as venue:
        sim.faults.set("http_5xx", "2:reads")
        assert (await venue.position(SWAP)).size_contracts == 0  # third attempt
        sim.faults.set("http_5xx", "5:reads")
        with pytest.raises(VenueUnavailable):
            await venue.balances("BTC")
        sim.faults.clear()
        sim.faults.set("code_50011", "1:reads")
        await venue.balances("BTC")
        assert venue._budget.pauses == 1 and venue._budget.waited_seconds > 0


async def test_a_read_is_tried_three_times_in_all_and_only_when_not_processed(
    sim: RunningSim,
) -> None:
    async with okx_venue(sim) as venue:
        sim.faults.set("http_5xx", "5:reads")
        with structlog.testing.capture_logs() as logged, pytest.raises(VenueUnavailable):
            await venue.open_orders(SWAP)
        assert sim.faults.describe()["http_5xx"] == "2:reads"  # three requests, no more
        pauses = [e["retry_in_seconds"] for e in logged if e["event"] == "venue read retried"]
        assert len(pauses) == 2
        # full jitter: up to the base (FAST_VENUE's 0.05 s), then up to twice the base
        assert 0 <= pauses[0] <= 0.05 and 0 <= pauses[1] <= 0.1
        sim.faults.clear()
        with structlog.testing.capture_logs() as logged, pytest.raises(NotFound):
            await venue.order(SWAP, "never-placed")
        assert not [e for e in logged if e["event"] == "venue read retried"]


async def test_a_position_read_as_empty_while_margin_is_used_is_not_trusted(
    sim: RunningSim,
) -> None:
    async with okx_venue(sim) as venue:
        await venue.place_market_order(market("e1", OrderSide.SELL, 10))
        sim.faults.set("empty_positions", "on")
        with pytest.raises(VenueUnavailable, match="no position while the account's margin"):
            await venue.position(SWAP)
        sim.faults.set("empty_positions", "off")
        assert (await venue.position(SWAP)).size_contracts == -10


async def test_a_stale_mark_price_is_not_traded_on(sim: RunningSim) -> None:
    settings = replace(FAST_VENUE, max_price_age_seconds=0.5)
    async with okx_venue(sim, settings) as venue:
        sim.faults.set("stale_tickers", "on")
        await venue.position(SWAP)
        await asyncio.sleep(0.7)
        with pytest.raises(VenueUnavailable, match="mark price of BTC-USD-SWAP is 1 s old"):
            await venue.position(SWAP)


async def test_the_position_stream_reconnects_a_silent_socket(sim: RunningSim) -> None:
    settings = replace(FAST_VENUE, ws_silence_seconds=0.6)
    async with okx_venue(sim, settings) as venue:
        changes = venue.position_changes(SWAP)
        first = await asyncio.wait_for(anext(changes), 5)
        assert not isinstance(first, VenueResync) and first.size_contracts == 0
        await venue.place_market_order(market("w1", OrderSide.SELL, 4))
        moved = await asyncio.wait_for(anext(changes), 5)
        assert not isinstance(moved, VenueResync) and moved.size_contracts == -4
        sim.faults.set("ws_silent", "on")
        resync = await asyncio.wait_for(anext(changes), 5)
        assert isinstance(resync, VenueResync) and "silent" in resync.reason
        sim.faults.set("ws_silent", "off")
        again = await asyncio.wait_for(anext(changes), 5)
        assert not isinstance(again, VenueResync) and again.size_contracts == -4
        await sim.exchange.server.hub.drop_all()
        dropped = await asyncio.wait_for(anext(changes), 5)
        assert isinstance(dropped, VenueResync)
        redialled = await asyncio.wait_for(anext(changes), 5)
        assert not isinstance(redialled, VenueResync) and redialled.size_contracts == -4
        assert sim.exchange.server.hub.connections_opened >= 3
        await changes.aclose()


async def test_secrets_never_reach_logs_or_errors(
    sim: RunningSim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = sim.credentials
    wrong = OkxCredentials(creds.api_key, "a-wrong-secret-k3y", creds.passphrase)
    venue = OkxVenue(
        replace(FAST_VENUE, rest_url=sim.rest_url, ws_url=sim.ws_url), wrong, RealClock()
    )
    errors: list[str] = []
    with structlog.testing.capture_logs() as logged:
        try:
            with pytest.raises(VenueUnavailable) as refused:
                await venue.balances("BTC")
            errors.append(str(refused.value))
            assert "50113" in str(refused.value)
        finally:
            await venue.close()
        async with okx_venue(sim) as good:
            sim.faults.set("http_5xx", "1:orders")
            with pytest.raises(VenueUncertain) as uncertain:
                await good.place_market_order(market("s1", OrderSide.SELL, 1))
            errors.append(str(uncertain.value))
            errors.append(repr(good.__dict__))
    written = "\n".join([*errors, caplog.text, repr(logged), repr(venue.__dict__)])
    for secret in ("a-wrong-secret-k3y", creds.passphrase, creds.secret_key):
        assert secret not in written

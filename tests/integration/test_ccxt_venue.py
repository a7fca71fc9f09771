"""The generic ccxt venue (ccxt's unified API) behind the same port.

Against the simulator's engine it runs with ccxt's OKX implementation, since the simulator
speaks OKX: the venue's own logic (client ids, state mapping, failure translation, the
position watch) is the same for every exchange, only ccxt's formatting differs. That
formatting is checked offline for Binance COIN-M and Bybit inverse: ccxt builds their order
requests from pegkeeper's parameters, and their markets become the right instruments.
"""

from __future__ import annotations

import decimal
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pegkeeper.adapters.venues.ccxt_venue import (
    PROFILES,
    CcxtVenueSettings,
    instrument_of,
    make_client,
)
from pegkeeper.domain.errors import NotFound, OrderRejected, VenueUnavailable, VenueUncertain
from pegkeeper.domain.instruments import BTC_USD_SWAP, ContractType, InstrumentKind
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.sim.orders import OrderType
from tests.okx_sim import RunningSim, running_sim
from tests.okx_world import ccxt_venue, hedging_world

SYMBOL = "BTC/USD:BTC"


def market(client_id: str, side: OrderSide, contracts: int) -> OrderIntent:
    return OrderIntent(client_id, SYMBOL, OrderKind.MARKET, side, Decimal(contracts), "d", "c", 0)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim() as running:
        yield running


async def test_the_port_through_the_unified_api(sim: RunningSim) -> None:
    async with ccxt_venue(sim) as venue:
        instrument = await venue.instrument(SYMBOL)
        assert instrument.contract_value == BTC_USD_SWAP.contract_value
        assert (
            instrument.contract_type is ContractType.INVERSE and instrument.settle_currency == "BTC"
        )
        assert (await venue.position(SYMBOL)).size_contracts == 0
        report = await venue.place_market_order(market("g1", OrderSide.SELL, 98))
        assert (report.state, report.filled_contracts, report.avg_price_usd) == (
            OrderState.FILLED,
            98,
            Decimal("7937.89"),
        )
        (fill,) = report.fills
        assert fill.size_contracts == 98 and fill.fee > 0
        assert sim.requests_for("g1") == 1  # through /trade/batch-orders, ccxt's default
        assert (await venue.position(SYMBOL)).size_contracts == -98
        balances = await venue.balances("BTC")
        assert balances.funding_balance == 1 and balances.trading_equity > 1
        closed = await venue.close_position(
            OrderIntent("g2", SYMBOL, OrderKind.CLOSE_POSITION, None, Decimal(0), "d", "c", 0)
        )
        assert closed.state is OrderState.FILLED and sim.position_contracts() == 0
        with pytest.raises(NotFound):
            await venue.order(SYMBOL, "g404")


async def test_open_orders_and_cancel(sim: RunningSim) -> None:
    sim.engine.place_order(
        "gl1", "BTC-USD-SWAP", OrderSide.BUY, Decimal(2), sim.exchange.clock.now_ms(),
        order_type=OrderType.POST_ONLY, limit_price_usd=Decimal("7000.0"),
    )  # fmt: skip
    async with ccxt_venue(sim) as venue:
        (live,) = await venue.open_orders(SYMBOL)
        assert live.client_order_id == "gl1" and live.state is OrderState.ACCEPTED
        canceled = await venue.cancel_order(SYMBOL, "gl1")
        assert canceled.state is OrderState.CANCELED and await venue.open_orders(SYMBOL) == []


async def test_post_only_orders_through_the_unified_api(sim: RunningSim) -> None:
    def post_only(client_id: str, side: OrderSide, price: str) -> OrderIntent:
        return OrderIntent(
            client_id, SYMBOL, OrderKind.POST_ONLY, side, Decimal(2), "d", "c", 0, Decimal(price)
        )

    async with ccxt_venue(sim) as venue:
        mark = sim.engine.mark_price_usd()
        assert mark is not None
        below = (mark - 100).quantize(Decimal("0.1"))
        resting = await venue.place_limit_order(post_only("gp1", OrderSide.BUY, str(below)))
        assert resting.state is OrderState.ACCEPTED and resting.filled_contracts == 0
        (live,) = sim.engine.open_orders("BTC-USD-SWAP")
        assert (live.order_type, live.limit_price_usd) == (OrderType.POST_ONLY, below)
        # a buy above the best ask would take liquidity: the venue cancels it, nothing fills
        above = (mark + 100).quantize(Decimal("0.1"))
        crossing = await venue.place_limit_order(post_only("gp2", OrderSide.BUY, str(above)))
        assert crossing.state is OrderState.CANCELED and crossing.filled_contracts == 0
        assert sim.position_contracts() == 0


async def test_failures_are_translated_as_for_okx(sim: RunningSim) -> None:
    async with ccxt_venue(sim) as venue:
        for fault, expected in [
            ("reject_order", OrderRejected),
            ("http_429", VenueUnavailable),
            ("http_5xx", VenueUncertain),
        ]:
            sim.faults.set(fault, "1:orders")
            with pytest.raises(expected):
                await venue.place_market_order(
                    market(f"gf{fault.replace('_', '')}", OrderSide.SELL, 1)
                )
        sim.faults.set("empty_positions", "on")
        await venue.place_market_order(market("gf2", OrderSide.SELL, 3))
        with pytest.raises(VenueUnavailable, match="margin is in use"):
            await venue.position(SYMBOL)


async def test_the_hedger_on_the_generic_venue_survives_a_timeout_after_accept(
    tmp_path: Path,
) -> None:
    async with hedging_world(tmp_path, generic=True) as world:
        world.sim.faults.set_many({"timeout_after_accept": "1", "hang_seconds": "3"})
        await world.post("u1", 1_000_000)
        await world.converged(-98)
        world.sim.faults.set("http_429", "1:orders")
        await world.post("u2", 100_000)
        await world.converged(-108)
        orders = await world.check_books()
        assert [o.state for o in orders] == [
            OrderState.FILLED,
            OrderState.REJECTED,
            OrderState.FILLED,
        ]


# -- other exchanges, offline: ccxt's formatting of pegkeeper's requests ---------------------

BINANCE_COINM_PERP = {
    "symbol": "BTCUSD_PERP", "pair": "BTCUSD", "contractType": "PERPETUAL",
    "deliveryDate": 4133404800000, "onboardDate": 1597042800000, "contractStatus": "TRADING",
    "contractSize": 100, "marginAsset": "BTC", "maintMarginPercent": "2.5000",
    "requiredMarginPercent": "5.0000", "baseAsset": "BTC", "quoteAsset": "USD",
    "pricePrecision": 1, "quantityPrecision": 0, "baseAssetPrecision": 8, "quotePrecision": 8,
    "equalQtyPrecision": 4, "triggerProtect": "0.0500", "underlyingType": "COIN",
    "underlyingSubType": [], "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC"],
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "1000", "maxPrice": "4520958",
         "tickSize": "0.1"},
        {"filterType": "LOT_SIZE", "stepSize": "1", "maxQty": "1000000", "minQty": "1"},
        {"filterType": "MARKET_LOT_SIZE", "stepSize": "1", "maxQty": "60000", "minQty": "1"},
    ],
}  # fmt: skip


async def test_binance_coin_m_orders_carry_the_client_id_in_new_client_order_id() -> None:
    client = make_client(
        PROFILES["binancecoinm"], CcxtVenueSettings(), {"api_key": "k", "secret_key": "s"}
    )
    try:
        market_record = client.parse_market(BINANCE_COINM_PERP)
        client.set_markets([market_record])
        instrument = instrument_of(market_record)
        assert (instrument.instrument_id, instrument.contract_value) == (SYMBOL, 100)
        assert (
            instrument.contract_type is ContractType.INVERSE
            and instrument.kind is InstrumentKind.SWAP
        )
        params = {"clientOrderId": "pk123"} | dict(PROFILES["binancecoinm"].order_params)
        request = client.create_order_request(SYMBOL, "market", "sell", 98.0, None, params)
        assert request == {
            "symbol": "BTCUSD_PERP", "side": "SELL", "type": "MARKET", "quantity": "98",
            "newClientOrderId": "pk123", "newOrderRespType": "RESULT",
        }  # fmt: skip
    finally:
        await client.close()


def bybit_inverse_market(client: Any) -> dict[str, Any]:
    """ccxt's unified market for Bybit's inverse perpetual BTCUSD (1 USD a contract)."""
    record = {
        "id": "BTCUSD", "symbol": SYMBOL, "base": "BTC", "quote": "USD", "settle": "BTC",
        "baseId": "BTC", "quoteId": "USD", "settleId": "BTC", "type": "swap", "spot": False,
        "margin": False, "swap": True, "future": False, "option": False, "contract": True,
        "linear": False, "inverse": True, "contractSize": 1.0, "active": True,
        "precision": {"amount": 1.0, "price": 0.5},
        "limits": {"amount": {"min": 1.0, "max": 1000000.0}, "price": {"min": 0.5, "max": None}},
        "info": {"symbol": "BTCUSD", "contractType": "InversePerpetual"},
    }  # fmt: skip
    return dict(client.safe_market_structure(record))


async def test_bybit_inverse_orders_carry_the_client_id_in_order_link_id() -> None:
    client = make_client(
        PROFILES["bybit"], CcxtVenueSettings(), {"api_key": "k", "secret_key": "s"}
    )
    try:
        market_record = bybit_inverse_market(client)
        client.set_markets([market_record])
        instrument = instrument_of(market_record)
        assert instrument.contract_value == 1 and instrument.tick_size_usd == Decimal("0.5")
        params = {"clientOrderId": "pk456"} | dict(PROFILES["bybit"].order_params)
        request = client.create_order_request(SYMBOL, "market", "buy", 250.0, None, params)
        assert (request["category"], request["symbol"], request["side"]) == (
            "inverse",
            "BTCUSD",
            "Buy",
        )
        assert (request["orderType"], request["qty"], request["orderLinkId"]) == (
            "Market",
            "250",
            "pk456",
        )
        assert request["positionIdx"] == 0
    finally:
        await client.close()


def test_only_okx_urls_can_be_pointed_at_a_local_server() -> None:
    with pytest.raises(ValueError, match="binancecoinm"):
        make_client(PROFILES["binancecoinm"], CcxtVenueSettings(rest_url="http://x"), {})


async def test_ccxt_leaves_pegkeeper_s_decimal_context_alone(sim: RunningSim) -> None:
    """ccxt's number formatting sets the Decimal context's rounding to half-up; pegkeeper's
    money arithmetic runs in the caller's context, which must stay as it was."""
    decimal.getcontext().rounding = decimal.ROUND_HALF_EVEN
    decimal.getcontext().traps[decimal.Underflow] = False
    async with ccxt_venue(sim) as venue:
        await venue.place_market_order(market("gctx", OrderSide.SELL, 3))
    assert decimal.getcontext().rounding == decimal.ROUND_HALF_EVEN
    assert not decimal.getcontext().traps[decimal.Underflow]

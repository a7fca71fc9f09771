"""USD <-> USDC at the broker: a USDC/USD market order by notional (buy) or quantity (sell),
refused by Alpaca's 2 % collar when it would spend all the cash, filled to 9 decimals that the
chain side floors to 6, and found by its client id when the answer is uncertain."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.domain.equities.transfers import ConversionState
from pegkeeper.domain.errors import OrderRejected
from pegkeeper.domain.orders import OrderSide
from pegkeeper.domain.units import usdc_units_floor
from tests.integration.brokers.rebalancing.conftest import CASH_USD, Inventory


async def test_a_buy_of_all_the_cash_is_refused_by_the_collar(inventory: Inventory) -> None:
    with pytest.raises(OrderRejected) as refused:
        await inventory.adapter.convert("cash-1", OrderSide.BUY, notional_usd=CASH_USD)

    # 10 000 x 1.02 = 10 200 held against 10 000 of cash
    assert "insufficient balance for USD (requested: 10200, available: 10000)" in str(refused.value)
    assert inventory.server.orders_of("cash-1") == 0
    assert inventory.account.cash_usd == CASH_USD


async def test_a_buy_of_98_percent_of_the_cash_goes_through(inventory: Inventory) -> None:
    done = await inventory.adapter.convert("cash-2", OrderSide.BUY, notional_usd=Decimal(9800))

    # 9 800 x 1.02 = 9 996 <= 10 000; at 1 USD a USDC the fill is 9 800 USDC
    assert done.state is ConversionState.FILLED
    assert (done.filled_qty_usdc, done.filled_notional_usd) == (Decimal(9800), Decimal(9800))
    assert inventory.account.cash_usd == Decimal(200)
    assert await inventory.adapter.usdc_balance() == Decimal(10_300)  # 500 + 9 800


async def test_a_9_decimal_fill_is_floored_to_6_for_the_chain(inventory: Inventory) -> None:
    inventory.sim.conversions.price_usd = Decimal("0.9997")

    done = await inventory.adapter.convert("cash-3", OrderSide.BUY, notional_usd=Decimal("100.009"))

    # 100.00 (cents down) / 0.9997 = 100.030009002700..., Alpaca's 9 dp: 100.030009002
    assert done.filled_qty_usdc == Decimal("100.030009002")
    assert usdc_units_floor(done.filled_qty_usdc) == 100_030_009
    assert (await inventory.adapter.conversion("cash-3")).filled_qty_usdc == Decimal(
        "100.030009002"
    )


async def test_a_sell_by_quantity_returns_dollars(inventory: Inventory) -> None:
    inventory.sim.conversions.price_usd = Decimal("0.9995")

    done = await inventory.adapter.convert("cash-4", OrderSide.SELL, qty_usdc=Decimal(200))

    assert done.state is ConversionState.FILLED
    assert done.filled_notional_usd == Decimal("199.9")  # 200 x 0.9995
    assert inventory.account.cash_usd == Decimal("10199.9")
    assert await inventory.adapter.usdc_balance() == Decimal(300)


async def test_a_sell_of_more_usdc_than_held_is_refused(inventory: Inventory) -> None:
    with pytest.raises(OrderRejected, match="insufficient balance for USDC"):
        await inventory.adapter.convert("cash-5", OrderSide.SELL, qty_usdc=Decimal("500.01"))


async def test_an_uncertain_conversion_is_adopted_by_its_client_id(inventory: Inventory) -> None:
    inventory.server.faults.fail_after_accept_next()

    done = await inventory.adapter.convert("cash-6", OrderSide.BUY, notional_usd=Decimal(1000))
    again = await inventory.adapter.convert("cash-6", OrderSide.BUY, notional_usd=Decimal(1000))

    assert done.state is again.state is ConversionState.FILLED
    assert inventory.server.posted_orders["cash-6"] == 2
    assert inventory.server.orders_of("cash-6") == 1
    assert inventory.account.cash_usd == Decimal(9000)


async def test_a_conversion_names_one_amount(inventory: Inventory) -> None:
    with pytest.raises(OrderRejected, match="exactly one; nothing was sent"):
        await inventory.adapter.convert("cash-7", OrderSide.SELL, notional_usd=Decimal(100))
    with pytest.raises(OrderRejected, match="rounds to 0"):
        await inventory.adapter.convert("cash-8", OrderSide.BUY, notional_usd=Decimal("0.009"))
    assert inventory.server.posted_orders == {}

"""The hedger on the OKX adapter (ccxt) against the OKX simulator as a real local server, one
test per fault. Each ends with the hedge at the policy's target, no decision sent twice, and
the store explaining the venue's position fill by fill (`World.check_books`).

Targets by hand (stablesats policy, 100 USD contracts): a liability of 10 000 USD
(1 000 000 cents) from flat sells round(0.98 * 1 000 000 / 10 000) = 98 contracts; 11 000 USD
against a short of 98 (ratio 0.89 < 0.95) sells round((1 078 000 - 980 000) / 10 000) = 10.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.sim.orders import OrderType
from tests.integration.conftest import postgres_database
from tests.okx_world import FAST_HEDGER, FAST_VENUE, World, hedging_world

TARGET = -98  # 10 000 USD of liability
SWAP = "BTC-USD-SWAP"


async def hedged(world: World) -> None:
    await world.post("u1", 1_000_000)
    await world.converged(TARGET)


def states(orders: list[object]) -> list[OrderState]:
    return [o.state for o in orders]  # type: ignore[attr-defined]


async def test_without_faults_one_order_covers_the_liability(tmp_path: Path) -> None:
    async with hedging_world(tmp_path) as world:
        await hedged(world)
        (order,) = await world.check_books()
        assert order.state is OrderState.FILLED and order.filled_contracts == 98


@pytest.mark.postgres
async def test_on_postgres_too(tmp_path: Path) -> None:
    async with postgres_database() as url, hedging_world(tmp_path, database_url=url) as world:
        await hedged(world)
        assert states(await world.check_books()) == [OrderState.FILLED]


async def test_a_timeout_after_the_order_was_accepted_is_looked_up_not_resent(
    tmp_path: Path,
) -> None:
    async with hedging_world(tmp_path) as world:
        world.sim.faults.set_many({"timeout_after_accept": "1", "hang_seconds": "3"})
        await hedged(world)
        (order,) = await world.check_books()
        assert order.state is OrderState.FILLED  # found by its client id, not sent again
        history = await world.store.hedge.recent_orders(5)
        assert len(history) == 1


@pytest.mark.parametrize("fault", ["http_5xx_after_accept"])
async def test_a_5xx_after_processing_is_looked_up_not_resent(tmp_path: Path, fault: str) -> None:
    async with hedging_world(tmp_path) as world:
        world.sim.faults.set(fault, "1:orders")
        await hedged(world)
        assert states(await world.check_books()) == [OrderState.FILLED]


async def test_a_5xx_before_processing_becomes_lost_then_one_new_order(tmp_path: Path) -> None:
    async with hedging_world(tmp_path) as world:
        world.sim.faults.set("http_5xx", "1:orders")
        await hedged(world)
        # the venue never saw the first: lost after the lookup window, then decided again
        assert states(await world.check_books()) == [OrderState.LOST, OrderState.FILLED]


@pytest.mark.parametrize("fault", ["http_429", "code_50011"])
async def test_a_rate_limit_mid_rebalance_is_not_processed_and_decided_again(
    tmp_path: Path, fault: str
) -> None:
    async with hedging_world(tmp_path) as world:
        world.sim.faults.set(fault, "2:orders")
        await hedged(world)
        orders = await world.check_books()
        assert states(orders) == [OrderState.REJECTED, OrderState.REJECTED, OrderState.FILLED]
        assert all("not processed" in o.message for o in orders[:2])
        assert world.venue._budget.pauses >= 2


async def test_latency_slows_but_does_not_break(tmp_path: Path) -> None:
    async with hedging_world(tmp_path, {"faults": ("latency_ms=150",)}) as world:
        await hedged(world)
        assert states(await world.check_books()) == [OrderState.FILLED]


async def test_a_partial_fill_is_waited_for(tmp_path: Path) -> None:
    async with hedging_world(tmp_path) as world:
        world.sim.faults.set_many({"partial_fill": "1", "partial_fill_delay_seconds": "0.5"})
        await hedged(world)
        (order,) = await world.check_books()
        assert order.state is OrderState.FILLED and len(await world.store.hedge.fills_for(
            order.intent.client_order_id
        )) == 2  # fmt: skip


async def test_a_partial_fill_whose_rest_is_canceled_is_completed_by_a_new_decision(
    tmp_path: Path,
) -> None:
    async with hedging_world(tmp_path) as world:
        world.sim.faults.set_many(
            {
                "partial_fill": "1",
                "partial_fill_then": "cancel",
                "partial_fill_delay_seconds": "0.3",
            }
        )
        await hedged(world)
        first, second = await world.check_books()
        assert (first.state, first.filled_contracts) == (OrderState.CANCELED, 49)
        assert (second.state, second.filled_contracts) == (OrderState.FILLED, 49)


async def test_a_rejected_order_is_tried_again_at_the_next_check(tmp_path: Path) -> None:
    async with hedging_world(tmp_path) as world:
        world.sim.faults.set("reject_order", "1")
        await hedged(world)
        orders = await world.check_books()
        assert states(orders) == [OrderState.REJECTED, OrderState.FILLED]
        assert "51008" in orders[0].message


async def test_a_position_answered_empty_does_not_double_the_hedge(tmp_path: Path) -> None:
    async with hedging_world(tmp_path) as world:
        await hedged(world)
        world.sim.faults.set("empty_positions", "on")
        await world.post("u2", 100_000)  # 11 000 USD: sell 10 more, not 108
        await asyncio.sleep(1.5)
        assert world.sim.position_contracts() == TARGET
        world.sim.faults.set("empty_positions", "off")
        await world.converged(-108)
        assert states(await world.check_books()) == [OrderState.FILLED, OrderState.FILLED]


async def test_a_stale_price_holds_the_hedge_until_prices_are_fresh(tmp_path: Path) -> None:
    venue = replace(FAST_VENUE, max_price_age_seconds=0.5)
    async with hedging_world(tmp_path, venue_settings=venue) as world:
        world.sim.faults.set("stale_tickers", "on")
        await asyncio.sleep(0.7)
        await world.post("u1", 1_000_000)
        await asyncio.sleep(1.0)
        assert world.sim.position_contracts() == 0 and not world.sim.ctx.order_requests
        world.sim.faults.set("stale_tickers", "off")
        await world.converged(TARGET)
        assert states(await world.check_books()) == [OrderState.FILLED]


async def test_a_silent_websocket_is_reopened_and_the_venue_read_again(tmp_path: Path) -> None:
    async with hedging_world(tmp_path) as world:
        await hedged(world)
        opened = world.sim.exchange.server.hub.connections_opened
        read_again = world.hedger.reconciliations
        world.sim.faults.set("ws_silent", "on")
        await world.until(lambda: world.venue.watches[0].reconnects >= 1, "a reconnection")
        # positions and orders are read again over REST, even while the socket stays silent
        await world.until(lambda: world.hedger.reconciliations > read_again, "a REST re-read")
        await world.post("u2", 100_000)
        await world.converged(-108)
        world.sim.faults.set("ws_silent", "off")
        await world.until(
            lambda: world.sim.exchange.server.hub.connections_opened > opened, "a new socket"
        )
        assert states(await world.check_books()) == [OrderState.FILLED, OrderState.FILLED]


async def test_a_dropped_websocket_is_redialled_and_the_venue_read_again(tmp_path: Path) -> None:
    async with hedging_world(tmp_path) as world:
        await hedged(world)
        read_again = world.hedger.reconciliations
        await world.sim.exchange.server.hub.drop_all()
        await world.until(lambda: world.venue.watches[0].reconnects >= 1, "a reconnection")
        await world.until(lambda: world.hedger.reconciliations > read_again, "a REST re-read")
        await world.post("u2", 100_000)
        await world.converged(-108)
        assert states(await world.check_books()) == [OrderState.FILLED, OrderState.FILLED]


async def test_at_start_an_order_the_venue_filled_is_recorded_filled_not_resent(
    tmp_path: Path,
) -> None:
    """The process wrote the order row, sent it, and died before hearing back."""

    async def crashed_after_sending(world: World) -> None:
        await world.post("u1", 1_000_000)
        intent = OrderIntent(
            "pkcrashed1", SWAP, OrderKind.MARKET, OrderSide.SELL, Decimal(98), "d0", "c0",
            world.sim.exchange.clock.now_ms(),
        )  # fmt: skip
        await world.store.hedge.create_order(intent)
        world.sim.engine.place_order(
            "pkcrashed1", SWAP, OrderSide.SELL, Decimal(98), intent.created_at_ms
        )
        world.sim.ctx.order_requests["pkcrashed1"] += 1

    async with hedging_world(tmp_path, before_start=crashed_after_sending) as world:
        await world.converged(TARGET)
        (order,) = await world.check_books()
        assert order.intent.client_order_id == "pkcrashed1" and order.state is OrderState.FILLED


async def test_at_start_a_stray_order_declared_lost_is_canceled_at_the_venue(
    tmp_path: Path,
) -> None:
    """An order the store holds lost turns up live at the venue: canceled before trading."""

    async def stray(world: World) -> None:
        now_ms = world.sim.exchange.clock.now_ms()
        intent = OrderIntent(
            "pkstray1", SWAP, OrderKind.POST_ONLY, OrderSide.SELL, Decimal(5), "d0", "c0", now_ms,
            Decimal("9000.0"),
        )  # fmt: skip
        await world.store.hedge.create_order(intent)
        await world.store.hedge.record_order_state("pkstray1", OrderState.LOST, now_ms)
        world.sim.engine.place_order(
            "pkstray1", SWAP, OrderSide.SELL, Decimal(5), now_ms,
            order_type=OrderType.POST_ONLY, limit_price_usd=Decimal("9000.0"),
        )  # fmt: skip
        world.sim.ctx.order_requests["pkstray1"] += 1

    async with hedging_world(tmp_path, before_start=stray) as world:
        await world.until(lambda: not world.sim.engine.open_orders(), "the stray canceled")
        for _ in range(200):  # and its end recorded, which follows the cancel
            record = await world.store.hedge.get_order("pkstray1")
            if record is not None and record.state is OrderState.CANCELED:
                break
            await asyncio.sleep(0.02)
        assert record is not None and record.state is OrderState.CANCELED
        await hedged(world)
        assert states(await world.check_books()) == [OrderState.CANCELED, OrderState.FILLED]


async def test_the_linear_swap_is_hedged_in_usdt_margined_contracts(tmp_path: Path) -> None:
    """BTC-USDT-SWAP: 0.01 BTC a contract, worth 0.01 * 7938.39 USD = 7 938.39 cents, so
    10 000 USD sells round(980 000 / 7 938.39) = round(123.45) = 123 contracts."""
    linear = replace(FAST_HEDGER, instrument_id="BTC-USDT-SWAP")
    venue = replace(FAST_VENUE, instrument_ids=("BTC-USDT-SWAP",))
    async with hedging_world(tmp_path, venue_settings=venue, hedger_settings=linear) as world:
        await world.post("u1", 1_000_000)
        await world.until(
            lambda: world.sim.position_contracts("BTC-USDT-SWAP") == -123, "the linear short"
        )
        await world.converged(0)  # the inverse swap is untouched
        for _ in range(200):  # the snapshot follows the fill
            snapshot = await world.store.hedge.last_position()
            if snapshot is not None and snapshot.size_contracts == -123:
                break
            await asyncio.sleep(0.02)
        # 123 x 0.01 BTC x 7938.39 USD = 9 764.22 USD, short
        assert snapshot is not None and snapshot.exposure_cents == -976_422
        (order,) = await world.store.hedge.recent_orders(5)
        assert order.intent.instrument_id == "BTC-USDT-SWAP" and order.filled_contracts == 123

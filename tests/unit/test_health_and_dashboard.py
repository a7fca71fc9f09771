"""Readiness checks, the book's history merged from two step functions, liquidation distance,
the correlation log."""

import asyncio
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.store.audit_repo import thin
from pegkeeper.domain.audit import LiabilityPoint
from pegkeeper.domain.events import (
    HedgeDecided,
    LiabilityChanged,
    OrderUpdated,
    encode_event,
)
from pegkeeper.domain.orders import Fill, OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.domain.records import PositionSnapshot
from pegkeeper.services.correlation_log import CorrelationLog
from pegkeeper.services.views.dashboard import liquidation_distance, merge_history
from pegkeeper.services.views.health import READY, HealthMonitor
from tests.fakes import FakeHedgeRepository


async def test_readiness_is_every_check_ready_and_says_why_not() -> None:
    health = HealthMonitor(["hedger", "web"], check_timeout_seconds=0.05)
    state = {"fresh": True}

    async def book() -> str:
        return READY if state["fresh"] else "stale: no valid book for 31.0 s"

    async def slow() -> str:
        await asyncio.sleep(1)
        return READY

    async def broken() -> str:
        raise RuntimeError("venue client closed")

    health.watch("price-server", book)
    assert await health.readiness() == {"hedger": READY, "web": READY, "price-server": READY}
    state["fresh"] = False
    assert (await health.readiness())["price-server"] == "stale: no valid book for 31.0 s"
    health.watch("hedger", slow)
    assert (await health.readiness())["hedger"] == "its health check did not answer within 0.05 s"
    health.watch("web", broken)
    assert (await health.readiness())["web"] == (
        "its health check failed: RuntimeError: venue client closed"
    )
    health.job_ended("price-server", None)
    # a stopped service's own reason says more (a ledger source stopped on refused credentials)
    assert (await health.readiness())["price-server"] == "stale: no valid book for 31.0 s"
    state["fresh"] = True
    assert (await health.readiness())["price-server"] == "stopped (it returned)"


def snapshot(at_ms: int, size: int, mark: str, liquidation: str | None) -> PositionSnapshot:
    return PositionSnapshot(
        created_at_ms=at_ms,
        correlation_id="c",
        instrument_id="BTC-USD-SWAP",
        size_contracts=Decimal(size),
        avg_price_usd=None,
        mark_price_usd=Decimal(mark),
        exposure_cents=size * 10_000,
        liquidation_price_usd=None if liquidation is None else Decimal(liquidation),
        collateral=Decimal(1),
        collateral_available=Decimal(1),
        funding_balance=Decimal(0),
        leverage=None,
    )


def test_history_carries_each_value_forward_to_the_next_change() -> None:
    liabilities = [LiabilityPoint(100, 5_000), LiabilityPoint(300, 8_000)]
    positions = [snapshot(200, -49, "10000", None), snapshot(300, -78, "10000", None)]
    points = merge_history(liabilities, positions)
    assert [
        (p.ts_ms, p.liability_cents, p.position and p.position.size_contracts) for p in points
    ] == [
        (100, 5_000, None),
        (200, 5_000, Decimal(-49)),
        (300, 8_000, Decimal(-78)),  # both changed at 300: one point
    ]


@pytest.mark.parametrize(
    ("size", "mark", "liquidation", "distance"),
    [
        (-98, "10000", "13000", Decimal("0.3000")),  # a short: the price must rise 30 %
        (98, "10000", "7500", Decimal("0.2500")),  # a long: the price must fall 25 %
        (-98, "10000", "9000", Decimal("-0.1000")),  # past it (a stale snapshot): negative
        (-98, "7938.39", "11111.11", Decimal("0.3997")),  # 3 172.72 / 7 938.39 = 0.39966...
        (0, "10000", "13000", None),
        (-98, "10000", None, None),
    ],
)
def test_liquidation_distance(
    size: int, mark: str, liquidation: str | None, distance: Decimal | None
) -> None:
    assert liquidation_distance(snapshot(0, size, mark, liquidation)) == distance


def test_thinning_keeps_the_newest_and_spaces_evenly() -> None:
    assert thin(list(range(10)), 4) == [0, 2, 5, 9]
    assert thin(list(range(3)), 5) == [0, 1, 2]
    assert thin(list(range(3)), 1) == [2]
    assert thin(list(range(3)), 0) == []


async def test_the_correlation_log_ties_a_liability_event_to_its_decision_order_and_fills() -> None:
    hedge = FakeHedgeRepository()
    intent = OrderIntent(
        "pk1", "BTC-USD-SWAP", OrderKind.MARKET, OrderSide.SELL, Decimal(98), "d1", "corr1", 0
    )
    await hedge.create_order(intent)
    fill = Fill("f1", "pk1", Decimal(98), Decimal("7938.1"), Decimal("0.00000617"), "BTC", 5)
    await hedge.record_order_state("pk1", OrderState.FILLED, 6, fills=[fill])
    log = CorrelationLog(MemoryBus(), hedge)
    with capture_logs() as logs:
        await log.record(encode_event(LiabilityChanged(1, "u1", 1_000_000, 1_000_000, "corr1", 1)))
        await log.record(
            encode_event(HedgeDecided("d1", "corr1", "sell", "98", "under-hedged-sell", 2))
        )
        await log.record(encode_event(OrderUpdated("pk1", "corr1", "created", 3)))
        await log.record(encode_event(OrderUpdated("pk1", "corr1", "filled", 6)))
        await log.record(encode_event(OrderUpdated("pk1", "corr1", "filled", 7)))  # a repeat
    assert [(e["event"], e["correlation_id"]) for e in logs] == [
        ("liability changed", "corr1"),
        ("hedge decided", "corr1"),
        ("order state", "corr1"),
        ("order state", "corr1"),
        ("fill", "corr1"),
        ("order state", "corr1"),
    ]
    fill_line = logs[4]
    assert (fill_line["fill_id"], fill_line["price_usd"], fill_line["fee"]) == (
        "f1",
        "7938.1",
        "0.00000617",
    )


def test_values_in_force_before_the_window_count_from_its_start() -> None:
    liabilities = [LiabilityPoint(1_000, 5_000), LiabilityPoint(1_500, 6_000)]
    positions = [snapshot(400, -49, "10000", None)]  # taken before the window opened at 1 000
    points = merge_history(liabilities, positions, since_ms=1_000)
    assert [
        (p.ts_ms, p.liability_cents, p.position and p.position.size_contracts) for p in points
    ] == [
        (1_000, 5_000, Decimal(-49)),
        (1_500, 6_000, Decimal(-49)),
    ]

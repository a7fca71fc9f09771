"""Broker orders on the execution core: committed first, outcomes sorted, lookups."""

from decimal import Decimal

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.equities.broker import (
    BrokerFill,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
)
from pegkeeper.domain.errors import NotFound, SlotTaken, VenueUncertain
from pegkeeper.domain.execution import Outcome
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.execution.broker_orders import BrokerOrderExecution
from tests.fakes_equities import MemoryEquityRepository

D = Decimal


class ScriptedBroker:
    """Answers what it is told to, and counts what it was asked."""

    name = "scripted"
    kind = "fractional"

    def __init__(self) -> None:
        self.placed: list[BrokerOrderIntent] = []
        self.place_error: Exception | None = None
        self.reports: dict[str, BrokerOrderReport] = {}
        self.lookups = 0

    async def place_order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        self.placed.append(intent)
        if self.place_error is not None:
            raise self.place_error
        return self.reports[intent.client_order_id]

    async def order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        self.lookups += 1
        if intent.client_order_id not in self.reports:
            raise NotFound("unknown client order id")
        return self.reports[intent.client_order_id]

    async def cancel_order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        raise NotFound("unknown")


def buy(coid: str = "c1") -> BrokerOrderIntent:
    return BrokerOrderIntent(coid, "AAPL", OrderSide.BUY, D(1), 0)


Setup = tuple[
    MemoryEquityRepository,
    ScriptedBroker,
    ManualClock,
    BrokerOrderExecution,
    list[BrokerOrderReport],
]


def setup() -> Setup:
    """The execution over the in-memory ledger; the reports that brought fills are kept."""
    repo, broker, clock = MemoryEquityRepository(["AAPL"]), ScriptedBroker(), ManualClock(0)
    told: list[BrokerOrderReport] = []
    execution = BrokerOrderExecution(
        repo,
        broker,  # type: ignore[arg-type]
        clock,
        lookup_window_seconds=10,
        on_fills=told.append,
    )
    return repo, broker, clock, execution, told


async def test_a_second_order_on_the_slot_is_refused_before_any_request() -> None:
    repo, broker, _, execution, _ = setup()
    await execution.open(buy("c1"), "test")
    with pytest.raises(SlotTaken):
        await execution.submit(buy("c2"), "test")
    assert broker.placed == [] and await repo.broker_order("c2") is None


async def test_an_uncertain_place_not_found_is_unknown_then_lost_after_the_window() -> None:
    repo, broker, clock, execution, _ = setup()
    broker.place_error = VenueUncertain("read timeout")
    sent = await execution.submit(buy(), "test")
    assert (sent.outcome, sent.state) == (Outcome.UNCERTAIN, BrokerOrderState.UNKNOWN)
    assert broker.lookups == 1  # looked up at once
    record = await repo.broker_order("c1")
    assert record is not None and record.message == "uncertain: read timeout"
    clock.advance(9)
    assert await execution.resolve(record) is None
    clock.advance(1)
    assert await execution.resolve(record) is BrokerOrderState.LOST
    record = await repo.broker_order("c1")
    assert record is not None and record.state is BrokerOrderState.LOST
    assert (await repo.exposures())["AAPL"].in_flight is None  # the slot is free again


async def test_resolve_records_a_report_only_when_it_changed_and_tells_of_new_fills() -> None:
    repo, broker, _, execution, told = setup()
    working = BrokerOrderReport("c1", BrokerOrderState.WORKING, "b1")
    broker.reports["c1"] = working
    await execution.submit(buy(), "test")
    record = await repo.broker_order("c1")
    assert record is not None
    assert await execution.resolve(record) is BrokerOrderState.WORKING
    assert told == []
    half = BrokerFill("f1", D("0.5"), D(100), 1)
    broker.reports["c1"] = BrokerOrderReport("c1", BrokerOrderState.WORKING, "b1", (half,))
    assert await execution.resolve(record) is BrokerOrderState.WORKING
    record = await repo.broker_order("c1")
    assert record is not None and record.filled_quantity == D("0.5")
    assert len(told) == 1
    assert (await repo.exposures())["AAPL"].broker_net == D("0.5")

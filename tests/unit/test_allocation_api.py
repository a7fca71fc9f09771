"""GET /api/v1/allocation in process, over the fake store of the carry allocation: the legs
with their weights now and the last decisions, newest first, with their rule."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import httpx

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.api.http.allocation import allocation_router
from pegkeeper.api.http.app import ApiContext, create_app
from pegkeeper.domain.allocation import Allocation, HedgeLeg
from pegkeeper.domain.carry_records import CarryDecisionRecord, CarryLegInputs
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.views.allocation import AllocationView
from pegkeeper.services.views.dealer import DealerView
from tests.fakes import FakeStore
from tests.fakes_carry import FakeAllocationRepository

PERP, QUARTERLY = "BTC-USD-SWAP", "BTC-USD-QUARTERLY"
ALLOCATION = Allocation((HedgeLeg(PERP, D(2)), HedgeLeg(QUARTERLY, D(1))))


def step(n: int, before: tuple[str, str], after: tuple[str, str]) -> CarryDecisionRecord:
    legs = (
        CarryLegInputs(PERP, PERP, D(before[0]), D(after[0]), D("-3.285"), D("-3.285"), D(7),
                       next_rate=D("-0.003"), mean_rate=D("-0.003"), settlements=9),
        CarryLegInputs(QUARTERLY, "BTC-USD-200327", D(before[1]), D(after[1]), D(0),
                       D("-0.0353"), D(7), future_usd=D(7000), spot_usd=D(7000),
                       expiry_ms=1_585_296_000_000),
    )  # fmt: skip
    return CarryDecisionRecord(
        f"cd{n}", 1_000 * n, "moving to a better net carry", n, True, legs,
        "primary:BTC-USD-SWAP", "primary:BTC-USD-QUARTERLY", D("0.02"), D("267.1"), D(19),
    )  # fmt: skip


async def get(view: AllocationView) -> dict[str, Any]:
    store = FakeStore()
    liability = LiabilityService(
        store.liability, MemoryBus(), ManualClock(0), max_abs_delta_cents=1
    )

    async def ready() -> dict[str, str]:
        return {}

    app = create_app(
        ApiContext(liability, DealerView(store), ready, allocation=allocation_router(view))
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        answer = await client.get("/api/v1/allocation", params={"limit": 5})
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


async def test_the_legs_with_the_weights_the_carry_stored_and_its_decisions() -> None:
    repo = FakeAllocationRepository()
    await repo.record_decision(step(1, ("1", "0"), ("0.98", "0.02")), 0)
    await repo.record_decision(step(2, ("0.98", "0.02"), ("0.96", "0.04")), 1)
    body = await get(AllocationView(repo, ALLOCATION, carry=True))
    assert (body["carry"], body["version"], body["updated_at_ms"]) == (True, 2, 2_000)
    assert body["legs"] == [
        {"instrument_id": PERP, "venue": "primary", "configured_weight": "2", "weight": "0.96"},
        {
            "instrument_id": QUARTERLY,
            "venue": "primary",
            "configured_weight": "1",
            "weight": "0.04",
        },
    ]
    newest, oldest = body["decisions"]
    assert (newest["decision_id"], oldest["decision_id"]) == ("cd2", "cd1")
    assert newest["rule"] == "moving to a better net carry" and newest["changed"] is True
    assert newest["move"] == {
        "from": "primary:BTC-USD-SWAP", "to": "primary:BTC-USD-QUARTERLY", "share": "0.02"
    }  # fmt: skip
    assert (newest["gain_bps"], newest["cost_bps"]) == ("267.1", "19")
    perp, quarterly = newest["legs"]
    assert (perp["weight_before"], perp["weight_after"], perp["next_rate"]) == (
        "0.98", "0.96", "-0.003"
    )  # fmt: skip
    assert (quarterly["instrument_id"], quarterly["future_usd"], quarterly["next_rate"]) == (
        "BTC-USD-200327", "7000", None
    )  # fmt: skip


async def test_without_the_carry_the_configured_weights_hold() -> None:
    body = await get(AllocationView(FakeAllocationRepository(), ALLOCATION, carry=False))
    assert (body["carry"], body["version"], body["decisions"]) == (False, 0, [])
    # 2 : 1 of the liability, to the 28 digits of a decimal
    assert [leg["weight"] for leg in body["legs"]] == [
        "0.6666666666666666666666666667",
        "0.3333333333333333333333333333",
    ]

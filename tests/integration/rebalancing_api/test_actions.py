"""The operator's rebalancing actions over HTTP, on SQLite: approve and dismiss a proposal, turn
execution on and off per asset and globally. The dealer's tokens and checks; each action in
the audit trail (refused ones too) written with the change it makes; 409 naming a proposal's
status, 404 for an unknown one, 401/403 without a valid token, 422 for a bad asset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from pegkeeper.domain.equities.move_records import NewMove, ProposalStatus
from pegkeeper.domain.equities.moves import ExecutionSwitches, MoveKind, MoveRoute
from pegkeeper.domain.events import OperatorActed, decode_event
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind, OperatorResult
from tests.rebalancing_web_support import RebalancingWorld, rebalancing_world
from tests.web_support import ALICE_TOKEN, BOB_TOKEN, START_MS, web_world

PROPOSALS = "/api/v1/equities/rebalancing/proposals"
EXECUTION = "/api/v1/equities/rebalancing/execution"
APPROVE = OperatorActionKind.APPROVE_REBALANCE
DISMISS = OperatorActionKind.DISMISS_REBALANCE
SWITCH = OperatorActionKind.SET_REBALANCE_EXECUTION


@pytest.fixture
async def world() -> AsyncIterator[RebalancingWorld]:
    async with rebalancing_world() as w:
        yield w


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def post(
    world: RebalancingWorld, path: str, token: str = ALICE_TOKEN, body: Any = None
) -> tuple[int, Any]:
    async with world.web.client() as client:
        response = await client.post(path, json=body or {}, headers=bearer(token))
    return response.status_code, response.json()


async def audit(world: RebalancingWorld) -> list[OperatorAction]:
    """The operator actions recorded, oldest first."""
    return list(reversed(await world.web.store.operator_actions.recent(50)))


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [
        ({}, 401, "operator actions need Authorization: Bearer"),
        (bearer("alice-0123456789abcdeX"), 403, "not valid"),
        (bearer(ALICE_TOKEN) | {"origin": "http://evil.example"}, 403, "cross-site"),
    ],
)
async def test_a_refused_request_changes_nothing(
    world: RebalancingWorld, headers: dict[str, str], status: int, says: str
) -> None:
    async with world.web.client() as client:
        for path, body in (
            (f"{PROPOSALS}/p-aapl/approve", {}),
            (f"{PROPOSALS}/p-aapl/dismiss", {}),
            (EXECUTION, {"asset": "all", "enabled": True}),
        ):
            response = await client.post(path, json=body, headers=headers)
            assert response.status_code == status and says in response.json()["error"]
    record = await world.repository.proposal("p-aapl")
    assert record is not None and record.status is ProposalStatus.PROPOSED
    assert (await world.repository.switches()).enabled_globally is False
    assert await audit(world) == []


async def test_approving_a_proposal_records_who_and_announces_it(
    world: RebalancingWorld,
) -> None:
    announced = world.web.bus.subscribe("operator")
    status, body = await post(world, f"{PROPOSALS}/p-aapl/approve", body={"note": "drifted"})
    assert status == 200
    assert (body["action"], body["result"], body["target"], body["note"]) == (
        "equities.rebalancing.approve",
        "done",
        "p-aapl",
        "drifted",
    )
    assert body["detail"] == "proposal p-aapl (mint 20 shares) approved: the rebalancer executes it"
    assert (body["proposal"]["status"], body["proposal"]["decided_by"]) == ("approved", "alice")
    record = await world.repository.proposal("p-aapl")
    assert record is not None
    assert (record.status, record.decided_by, record.decided_at_ms) == (
        ProposalStatus.APPROVED,
        "alice",
        START_MS,  # the clock's now, the action's stamp
    )
    (action,) = await audit(world)
    assert (action.operator, action.action, action.target, action.result) == (
        "alice",
        APPROVE,
        "p-aapl",
        OperatorResult.DONE,
    )
    assert action.created_at_ms == START_MS and action.action_id == body["action_id"]
    event = decode_event(announced.queue.get_nowait()[1])
    assert isinstance(event, OperatorActed) and event.action_id == action.action_id


async def test_a_proposal_no_longer_proposed_answers_409_naming_its_status(
    world: RebalancingWorld,
) -> None:
    assert (await post(world, f"{PROPOSALS}/p-aapl/approve"))[0] == 200
    status, again = await post(world, f"{PROPOSALS}/p-aapl/approve", token=BOB_TOKEN)
    assert status == 409
    assert again["error"] == (
        "proposal p-aapl (mint 20 shares) is approved by alice: only a proposed one can be approved"
    )
    assert (again["result"], again["proposal"]["decided_by"]) == ("failed", "alice")
    status, executing = await post(world, f"{PROPOSALS}/p-tsla/dismiss")
    assert status == 409 and "p-tsla (mint 2 shares) is executing" in executing["error"]
    record = await world.repository.proposal("p-tsla")
    assert record is not None and record.status is ProposalStatus.EXECUTING
    # the refusals are in the audit trail too, after the approval
    assert [(a.operator, a.action, a.target, a.result) for a in await audit(world)] == [
        ("alice", APPROVE, "p-aapl", OperatorResult.DONE),
        ("bob", APPROVE, "p-aapl", OperatorResult.FAILED),
        ("alice", DISMISS, "p-tsla", OperatorResult.FAILED),
    ]


async def test_dismissing_then_dismissing_again_and_approving_a_dismissed_one(
    world: RebalancingWorld,
) -> None:
    status, body = await post(world, f"{PROPOSALS}/p-cash/dismiss")
    assert status == 200 and body["result"] == "done"
    assert (
        body["detail"]
        == "proposal p-cash (cash_to_chain 2000 USD) dismissed: it will not be executed"
    )
    record = await world.repository.proposal("p-cash")
    assert record is not None and (record.status, record.decided_by) == (
        ProposalStatus.DISMISSED,
        "alice",
    )
    status, again = await post(world, f"{PROPOSALS}/p-cash/dismiss", token=BOB_TOKEN)
    assert (status, again["result"]) == (200, "unchanged")
    assert (
        again["detail"] == "proposal p-cash (cash_to_chain 2000 USD) was dismissed already by alice"
    )
    status, refused = await post(world, f"{PROPOSALS}/p-cash/approve")
    assert status == 409 and "is dismissed by alice" in refused["error"]
    open_ids = [p.proposal_id for p in await world.api.view.open_proposals()]
    assert open_ids == ["p-aapl"]


async def test_an_unknown_proposal_is_404_and_leaves_no_record(world: RebalancingWorld) -> None:
    for verb in ("approve", "dismiss"):
        status, body = await post(world, f"{PROPOSALS}/p-nope/{verb}")
        assert (status, body["detail"]) == (404, "no rebalancing proposal 'p-nope'")
    assert await audit(world) == []


async def test_a_move_shows_the_decision_on_its_proposal(world: RebalancingWorld) -> None:
    assert (await post(world, f"{PROPOSALS}/p-aapl/approve"))[0] == 200
    move = NewMove(
        "m-aapl-2", MoveKind.MINT, "AAPL", Decimal(20), START_MS + 5, MoveRoute(False), "p-aapl"
    )
    await world.repository.open_move(move)
    async with world.web.client() as client:
        detail = (await client.get("/api/v1/equities/rebalancing/moves/m-aapl-2")).json()
    assert [(d["operator"], d["action"], d["result"]) for d in detail["decisions"]] == [
        ("alice", "equities.rebalancing.approve", "done")
    ]


async def test_execution_switches_per_asset_and_globally(world: RebalancingWorld) -> None:
    status, aapl = await post(world, EXECUTION, body={"asset": "aapl", "enabled": True})
    assert (status, aapl["result"], aapl["target"]) == (200, "done", "AAPL")
    assert aapl["detail"] == (
        "execution on for AAPL: its proposals are executed without approval once the global "
        "switch is on too (it is off)"
    )
    switches = {s["asset"]: s for s in aapl["switches"]}
    assert (switches["AAPL"]["enabled"], switches["AAPL"]["executes"]) == (True, False)
    assert (switches["AAPL"]["by"], switches["AAPL"]["since_ms"]) == ("alice", START_MS)
    world.web.clock.advance(1)
    status, every = await post(
        world, EXECUTION, token=BOB_TOKEN, body={"asset": "all", "enabled": True}
    )
    assert (status, every["result"], every["target"]) == (200, "done", "all")
    assert every["detail"] == (
        "execution on globally: the assets switched on execute their proposals by themselves (AAPL)"
    )
    state = await world.repository.switches()
    assert state.enabled_globally and state.allows("AAPL") and not state.allows("TSLA")
    listed = {s["asset"]: s for s in every["switches"]}
    assert (listed["all"]["enabled"], listed["all"]["by"], listed["all"]["since_ms"]) == (
        True,
        "bob",
        START_MS + 1_000,
    )
    assert listed["AAPL"]["executes"] is True and listed["TSLA"]["executes"] is False
    status, same = await post(world, EXECUTION, body={"asset": "ALL", "enabled": True})
    assert (status, same["result"], same["detail"]) == (
        200,
        "unchanged",
        "execution was on globally already",
    )
    status, off = await post(world, EXECUTION, body={"asset": "AAPL", "enabled": False})
    assert (status, off["result"]) == (200, "done")
    assert not (await world.repository.switches()).allows("AAPL")
    assert [(a.target, a.result) for a in await audit(world) if a.action is SWITCH] == [
        ("AAPL", OperatorResult.DONE),
        ("all", OperatorResult.DONE),
        ("all", OperatorResult.UNCHANGED),
        ("AAPL", OperatorResult.DONE),
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            {"asset": "NVDA", "enabled": True},
            "asset 'NVDA' is not rebalanced here: expected one of AAPL, TSLA, USD, or 'all'",
        ),
        (
            {"enabled": True},
            "asset must be text, one of AAPL, TSLA, USD, or 'all'; got nothing",
        ),
        ({"asset": "AAPL", "enabled": "yes"}, "enabled must be true or false, got 'yes'"),
        ({"asset": "AAPL"}, "enabled must be true or false, got None"),
    ],
)
async def test_a_bad_switch_request_is_422_and_changes_nothing(
    world: RebalancingWorld, body: dict[str, Any], says: str
) -> None:
    status, answer = await post(world, EXECUTION, body=body)
    assert (status, answer["error"]) == (422, says)
    assert await world.repository.switches() == ExecutionSwitches()  # every switch off
    assert await audit(world) == []


async def test_without_rebalancing_the_actions_are_409() -> None:
    async with web_world() as web, web.client() as client:
        for path in (f"{PROPOSALS}/p1/approve", f"{PROPOSALS}/p1/dismiss", EXECUTION):
            response = await client.post(path, json={}, headers=bearer(ALICE_TOKEN))
            assert response.status_code == 409
            assert response.json()["error"] == (
                "inventory rebalancing is not configured in this process"
            )

"""The operator's pause and resume of equity hedging over HTTP: the dealer's tokens and
checks, the audit trail written before the switch moves, and the real switch board
(services.equities.control) reading its switches back from that trail after a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pegkeeper.domain.events import OperatorActed, decode_event
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind, OperatorResult
from pegkeeper.services.equities.control import EquityControl
from tests.equities_book import NOW_MS, SYMBOLS
from tests.equities_web_support import equities_world
from tests.web_support import ALICE_TOKEN, WebWorld

PAUSE = "/api/v1/equities/pause"
RESUME = "/api/v1/equities/resume"


@pytest.fixture
async def world() -> AsyncIterator[WebWorld]:
    async with equities_world() as w:
        yield w


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def switchboard(world: WebWorld) -> EquityControl:
    view = world.metrics.sources.equities
    assert view is not None and isinstance(view.control, EquityControl)
    return view.control


async def actions_since_start(world: WebWorld) -> list[OperatorAction]:
    """The operator actions recorded by the test, oldest first (TSLA's pause is older)."""
    recent = await world.store.operator_actions.recent(20)
    return [a for a in reversed(recent) if a.created_at_ms >= NOW_MS]


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [
        ({}, 401, "operator actions need Authorization: Bearer"),
        (bearer("alice-0123456789abcdeX"), 403, "not valid"),
        (bearer(ALICE_TOKEN) | {"origin": "http://evil.example"}, 403, "cross-site"),
    ],
)
async def test_a_refused_action_moves_nothing(
    world: WebWorld, headers: dict[str, str], status: int, says: str
) -> None:
    before = switchboard(world).state()
    async with world.client() as client:
        for path in (PAUSE, RESUME):
            response = await client.post(path, json={"symbol": "AAPL"}, headers=headers)
            assert response.status_code == status and says in response.json()["error"]
    assert switchboard(world).state() == before
    assert await actions_since_start(world) == []


async def test_an_operator_pauses_a_symbol_then_every_one_and_the_audit_names_them(
    world: WebWorld,
) -> None:
    operators = world.bus.subscribe("operator")
    board = switchboard(world)
    async with world.client() as client:
        paused = await client.post(
            PAUSE, json={"symbol": "aapl", "note": "split tomorrow"}, headers=bearer(ALICE_TOKEN)
        )
        again = await client.post(PAUSE, json={"symbol": "AAPL"}, headers=bearer(ALICE_TOKEN))
        everything = await client.post(PAUSE, headers=bearer(ALICE_TOKEN))
        resumed = await client.post(RESUME, json={"symbol": "TSLA"}, headers=bearer(ALICE_TOKEN))
        idle = await client.post(RESUME, json={"symbol": "MSFT"}, headers=bearer(ALICE_TOKEN))
        listed = (await client.get("/api/v1/equities")).json()
        audit = (await client.get("/api/v1/operator")).json()["actions"]
    assert paused.status_code == 200
    body = paused.json()
    assert (body["action"], body["target"], body["result"], body["note"]) == (
        "equities.pause",
        "AAPL",
        "done",
        "split tomorrow",
    )
    assert body["detail"] == "AAPL paused: no broker order is sent until resumed"
    assert body["created_at_ms"] == NOW_MS and body["client_address"] == "127.0.0.1"
    assert body["switches"]["symbols"]["AAPL"] == {
        "paused": True,
        "by": "alice",
        "since_ms": NOW_MS,
        "note": "split tomorrow",
    }
    assert (again.json()["result"], again.json()["detail"]) == (
        "unchanged",
        "AAPL already paused by alice",
    )
    assert (everything.json()["target"], everything.json()["result"]) == ("all", "done")
    assert resumed.json()["detail"] == (
        "TSLA resumed: the hedger decides again at its next check "
        "(every symbol stays paused by the global switch)"
    )
    assert (idle.json()["result"], idle.json()["detail"]) == ("unchanged", "MSFT was not paused")
    # the switches after: AAPL and every symbol paused, TSLA resumed under the global switch
    # (stamped by the switch board's own clock: one millisecond apart for each move)
    state = board.state()
    assert state["global"] == {"paused": True, "by": "alice", "since_ms": NOW_MS + 1, "note": ""}
    assert [(s, w["paused"], w["since_ms"]) for s, w in state["symbols"].items()] == [
        ("AAPL", True, NOW_MS),  # not moved again by the second, unchanged, pause
        ("MSFT", False, 0),
        ("NVDA", False, 0),
        ("TSLA", False, NOW_MS + 2),
    ]
    assert all(row["paused"] for row in listed["symbols"])
    assert listed["symbols"][3]["waiting_reason"] == "paused for every symbol by alice"
    # each written to the audit trail, in distinct milliseconds (the order a restart replays)
    recorded = await actions_since_start(world)
    assert [(a.action, a.target, a.result, a.created_at_ms - NOW_MS) for a in recorded] == [
        (OperatorActionKind.PAUSE_EQUITIES, "AAPL", OperatorResult.DONE, 0),
        (OperatorActionKind.PAUSE_EQUITIES, "AAPL", OperatorResult.UNCHANGED, 1),
        (OperatorActionKind.PAUSE_EQUITIES, "all", OperatorResult.DONE, 2),
        (OperatorActionKind.RESUME_EQUITIES, "TSLA", OperatorResult.DONE, 3),
        (OperatorActionKind.RESUME_EQUITIES, "MSFT", OperatorResult.UNCHANGED, 4),
    ]
    assert all(a.operator == "alice" and a.client_address == "127.0.0.1" for a in recorded)
    assert [a["action"] for a in audit][:5] == ["equities.resume"] * 2 + ["equities.pause"] * 3
    announced = [decode_event(operators.queue.get_nowait()[1]) for _ in range(5)]
    assert [e.action_id for e in announced if isinstance(e, OperatorActed)] == [
        a.action_id for a in recorded
    ]
    # for equity actions the flag is the equity hedger's global switch after the action
    assert [e.hedging_paused for e in announced if isinstance(e, OperatorActed)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert not world.control.paused  # the dealer's switch is another one
    # after a restart the switch board reads the same switches back from the audit trail
    restored = EquityControl(world.store.operator_actions, world.clock, SYMBOLS)
    await restored.load()

    def without_times(switches: dict[str, Any]) -> dict[str, Any]:
        return {k: {**v, "since_ms": None} for k, v in switches.items()}

    back = restored.state()
    assert without_times(back["symbols"]) == without_times(state["symbols"])
    assert without_times({"all": back["global"]}) == without_times({"all": state["global"]})
    # the times a restart restores are those of the audit records
    assert [back["global"]["since_ms"], back["symbols"]["TSLA"]["since_ms"]] == [
        recorded[2].created_at_ms,
        recorded[3].created_at_ms,
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            {"symbol": "XYZ"},
            "symbol 'XYZ' is not a configured equity: expected one of AAPL, MSFT, NVDA, TSLA, "
            "or no symbol for every one",
        ),
        (
            {"symbol": 7},
            "symbol must be text (one of AAPL, MSFT, NVDA, TSLA, or no symbol for every one), "
            "got int",
        ),
        ({"note": "x" * 501}, "note must be at most 500 characters, got 501"),
        ([1], 'request body must be a JSON object like {"symbol": "AAPL", "note": "..."}'),
    ],
)
async def test_a_bad_body_is_named_and_moves_nothing(
    world: WebWorld, body: object, says: str
) -> None:
    before = switchboard(world).state()
    async with world.client() as client:
        response = await client.post(PAUSE, json=body, headers=bearer(ALICE_TOKEN))
    assert response.status_code == 422 and says in response.json()["error"]
    assert switchboard(world).state() == before
    assert await actions_since_start(world) == []


async def test_the_hedgers_process_reads_switches_moved_through_another(world: WebWorld) -> None:
    # the equity hedger's own switch board, in another process sharing the store
    elsewhere = EquityControl(world.store.operator_actions, world.clock, SYMBOLS)
    await elsewhere.load()
    assert not elsewhere.paused("AAPL")
    async with world.client() as client:
        await client.post(PAUSE, json={"symbol": "AAPL"}, headers=bearer(ALICE_TOKEN))
        await elsewhere.load()
        assert elsewhere.paused("AAPL") and not elsewhere.paused("MSFT")
        await client.post(RESUME, json={"symbol": "AAPL"}, headers=bearer(ALICE_TOKEN))
    await elsewhere.load()
    assert not elsewhere.paused("AAPL")

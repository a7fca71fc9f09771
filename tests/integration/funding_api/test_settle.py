"""POST /api/v1/funding/operations/{id}/settle on the dashboard's app over SQLite, with the
records of tests/funding_web_support.py: a held deposit settled as not sent (failed, with the
operator's note) or as sent (pending with the named transaction); the action in the audit
trail in the same transaction as the change, refused ones too; 409 naming the state of an
operation not held or the transaction the wallet shows; 404, 400, 401/403, 503; held deposits
listed with what to do about them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pegkeeper.domain.collateral import (
    OperationState,
    OperationUpdate,
    WalletTransaction,
    held_deposit_action,
)
from pegkeeper.domain.errors import VenueUnavailable
from pegkeeper.domain.events import OperatorActed, decode_event
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind, OperatorResult
from tests.funding_web_support import HELD, MESSAGE, FundingWebWorld, funding_web_world
from tests.web_support import ALICE_TOKEN, START_MS, web_world

SETTLE = f"/api/v1/funding/operations/{HELD}/settle"
SETTLED = OperatorActionKind.SETTLE_DEPOSIT
TX = "9f" * 32


@pytest.fixture
async def world() -> AsyncIterator[FundingWebWorld]:
    async with funding_web_world() as w:
        yield w


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def post(
    world: FundingWebWorld, path: str, body: Any, token: str = ALICE_TOKEN
) -> tuple[int, dict[str, Any]]:
    async with world.web.client() as client:
        response = await client.post(path, json=body, headers=bearer(token))
    return response.status_code, response.json()


async def audit(world: FundingWebWorld) -> list[OperatorAction]:
    """The operator actions recorded, oldest first."""
    return list(reversed(await world.store.operator_actions.recent(50)))


async def state_of(world: FundingWebWorld, operation_id: str = HELD) -> tuple[str, str, str]:
    record = await world.store.funding.get_operation(operation_id)
    assert record is not None
    return record.state.value, record.tx_id, record.message


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [
        ({}, 401, "operator actions need Authorization: Bearer"),
        (bearer("alice-0123456789abcdeX"), 403, "not valid"),
        (bearer(ALICE_TOKEN) | {"origin": "http://evil.example"}, 403, "cross-site"),
    ],
)
async def test_a_refused_request_changes_nothing(
    world: FundingWebWorld, headers: dict[str, str], status: int, says: str
) -> None:
    async with world.web.client() as client:
        response = await client.post(SETTLE, json={"outcome": "not-sent"}, headers=headers)
    assert response.status_code == status and says in response.json()["error"]
    assert await state_of(world) == ("held", "", MESSAGE)
    assert await audit(world) == []


async def test_not_sent_fails_the_deposit_with_the_note_in_the_audit_trail(
    world: FundingWebWorld,
) -> None:
    announced = world.web.bus.subscribe("operator")
    status, body = await post(world, SETTLE, {"outcome": "not-sent", "note": "node never got it"})
    assert status == 200, body
    assert (body["action"], body["result"], body["target"], body["note"], body["operator"]) == (
        "funding.deposit.settle",
        "done",
        HELD,
        "node never got it",
        "alice",
    )
    assert body["detail"] == "deposit pfheld1 of 0.50000417 BTC failed, never sent: deposits resume"
    message = "not sent, settled by alice: node never got it"
    assert (body["operation"]["state"], body["operation"]["message"]) == ("failed", message)
    assert body["operation"]["action_needed"] is None
    assert await state_of(world) == ("failed", "", message)
    assert await world.store.funding.open_operations() == []  # deposits may go again
    (action,) = await audit(world)
    assert (action.operator, action.action, action.target, action.result, action.note) == (
        "alice",
        SETTLED,
        HELD,
        OperatorResult.DONE,
        "node never got it",
    )
    assert (action.action_id, action.created_at_ms) == (body["action_id"], START_MS)
    event = decode_event(announced.queue.get_nowait()[1])
    assert isinstance(event, OperatorActed) and event.action_id == action.action_id
    # in the deposit's audit trail, beside its states
    async with world.web.client() as client:
        trail = (await client.get("/api/v1/audit/cpfheld1")).json()
    assert [a["action_id"] for a in trail["operator_actions"]] == [action.action_id]


async def test_sent_puts_it_back_to_pending_with_the_transaction(world: FundingWebWorld) -> None:
    status, body = await post(world, SETTLE, {"outcome": "sent", "tx_id": f" {TX.upper()} "})
    assert status == 200, body
    assert body["detail"] == (
        f"deposit pfheld1 of 0.50000417 BTC is pending with transaction {TX}: followed until "
        "the exchange credits it"
    )
    assert body["note"] == ""
    assert await state_of(world) == ("pending", TX, f"sent in {TX}, settled by alice")
    (open_one,) = await world.store.funding.open_operations()  # followed: still open
    assert open_one.operation.operation_id == HELD
    assert [a.result for a in await audit(world)] == [OperatorResult.DONE]


async def test_an_operation_not_held_answers_409_naming_its_state(world: FundingWebWorld) -> None:
    refusals = {
        "pftr1": "transfer to trading pftr1 is done: only a held deposit can be settled",
        "pfold1": "deposit pfold1 is failed: only a held deposit can be settled",
    }
    for operation_id, says in refusals.items():
        path = f"/api/v1/funding/operations/{operation_id}/settle"
        status, body = await post(world, path, {"outcome": "not-sent"})
        assert (status, body["error"], body["result"]) == (409, says, "failed")
        assert body["operation"]["operation_id"] == operation_id
    status, _ = await post(world, SETTLE, {"outcome": "sent", "tx_id": TX})
    assert status == 200
    status, body = await post(world, SETTLE, {"outcome": "not-sent"})
    assert status == 409
    assert body["error"] == (
        f"deposit pfheld1 is pending (transaction {TX}): only a held deposit can be settled"
    )
    # every refusal is in the audit trail too, as failed
    assert [(a.target, a.result) for a in await audit(world)] == [
        ("pftr1", OperatorResult.FAILED),
        ("pfold1", OperatorResult.FAILED),
        (HELD, OperatorResult.DONE),
        (HELD, OperatorResult.FAILED),
    ]
    assert (await state_of(world))[:2] == ("pending", TX)


async def test_not_sent_is_refused_while_the_wallet_shows_the_send(world: FundingWebWorld) -> None:
    world.wallet.show(HELD, "aa" * 32, replaced_by=TX)  # bumped: the replacement is the live one
    world.wallet.show(HELD, TX)
    status, body = await post(world, SETTLE, {"outcome": "not-sent"})
    assert status == 409
    assert body["error"] == (
        f"the wallet shows deposit pfheld1 sent in transaction {TX}: it is not failed; the "
        "funding manager follows that payment"
    )
    assert await state_of(world) == ("held", "", MESSAGE)
    assert [(a.result, a.detail) for a in await audit(world)] == [
        (OperatorResult.FAILED, body["error"])
    ]
    # sent, the operator naming the payment, is taken whatever the wallet shows
    status, _ = await post(world, SETTLE, {"outcome": "sent", "tx_id": TX})
    assert status == 200


async def test_the_funding_manager_finding_the_send_meanwhile_wins(world: FundingWebWorld) -> None:
    """The send appears while the operator's request asks the wallet: the funding manager
    records it first, and the settlement is refused naming the deposit's new state."""

    async def found_by_the_funding_manager(comment: str, since_ms: int) -> list[WalletTransaction]:
        found = OperationUpdate(OperationState.PENDING, tx_id=TX, message="found sent")
        await world.store.funding.record_operation_state(HELD, found, START_MS)
        return []

    world.wallet.find_sent = found_by_the_funding_manager  # type: ignore[method-assign]
    status, body = await post(world, SETTLE, {"outcome": "not-sent"})
    assert (status, body["error"]) == (
        409,
        f"deposit pfheld1 is pending (transaction {TX}): only a held deposit can be settled",
    )
    assert await state_of(world) == ("pending", TX, "found sent")


async def test_a_wallet_that_cannot_be_asked_answers_503_and_keeps_it_held(
    world: FundingWebWorld,
) -> None:
    world.wallet.failure = VenueUnavailable("connection refused")
    status, body = await post(world, SETTLE, {"outcome": "not-sent"})
    assert status == 503
    assert body["error"] == (
        "the wallet could not be asked whether deposit pfheld1 was sent (connection refused): "
        "it is still held; try again"
    )
    assert await state_of(world) == ("held", "", MESSAGE)
    assert [a.result for a in await audit(world)] == [OperatorResult.FAILED]


async def test_without_a_wallet_here_the_operators_word_settles_it() -> None:
    async with funding_web_world(with_wallet=False) as world:
        status, body = await post(world, SETTLE, {"outcome": "not-sent"})
    assert status == 200
    assert body["detail"] == (
        "deposit pfheld1 of 0.50000417 BTC failed, never sent (no wallet here to look it up "
        "again): deposits resume"
    )


async def test_an_unknown_operation_is_404_and_not_recorded(world: FundingWebWorld) -> None:
    for operation_id in ("pfnope", "not-an-id"):
        path = f"/api/v1/funding/operations/{operation_id}/settle"
        status, body = await post(world, path, {"outcome": "not-sent"})
        assert (status, body["error"]) == (404, f"no funding operation {operation_id!r}")
    assert await audit(world) == []


EXPECTED = '{"outcome": "not-sent" or "sent", "tx_id": "<with sent>", "note": "..."}'


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, 'outcome must be one of "not-sent", "sent", got nothing'),
        ({"outcome": "lost"}, 'outcome must be one of "not-sent", "sent", got \'lost\''),
        (
            {"outcome": "sent"},
            'outcome "sent" needs tx_id, the transaction that paid the deposit: 64 hexadecimal '
            "characters, got nothing",
        ),
        ({"outcome": "sent", "tx_id": "abc"}, "64 hexadecimal characters, got 'abc'"),
        ({"outcome": "sent", "tx_id": "zz" * 32}, "64 hexadecimal characters, got 'zzzz"),
        ({"outcome": "not-sent", "tx_id": TX}, 'tx_id goes with outcome "sent" only'),
        ({"outcome": "not-sent", "txid": TX}, "unknown field 'txid': the fields are outcome, "),
        ({"outcome": "not-sent", "note": 5}, "note must be text, got int"),
        ({"outcome": "not-sent", "note": "x" * 501}, "note must be at most 500 characters"),
    ],
)
async def test_bad_input_is_400_naming_what_is_expected(
    world: FundingWebWorld, body: dict[str, Any], says: str
) -> None:
    status, answer = await post(world, SETTLE, body)
    assert status == 400 and says in answer["error"], answer
    assert answer["error"].endswith(f"; expected {EXPECTED}")
    assert await state_of(world) == ("held", "", MESSAGE)
    assert await audit(world) == []


async def test_a_body_that_is_not_json_is_400(world: FundingWebWorld) -> None:
    async with world.web.client() as client:
        headers = bearer(ALICE_TOKEN) | {"content-type": "application/json"}
        response = await client.post(SETTLE, content=b"not-sent", headers=headers)
    assert response.status_code == 400
    assert "request body is not valid JSON" in response.json()["error"]
    assert await audit(world) == []


async def test_held_deposits_are_listed_with_what_to_do(world: FundingWebWorld) -> None:
    hint = held_deposit_action(HELD)
    assert hint == (
        "check the wallet for a payment labelled pfheld1, then `pegkeeper funding settle "
        "pfheld1 --not-sent` if there is none, or `pegkeeper funding settle pfheld1 --sent "
        "TXID` with its transaction id"
    )
    async with world.web.client() as client:
        funding = (await client.get("/api/v1/funding")).json()
        transfers = (await client.get("/api/v1/transfers")).json()["transfers"]
    (held,) = funding["open_operations"]
    assert (held["operation_id"], held["state"], held["action_needed"]) == (HELD, "held", hint)
    assert [(t["operation_id"], t["state"], t["action_needed"]) for t in transfers] == [
        (HELD, "held", hint),
        ("pfold1", "failed", None),
        ("pftr1", "done", None),
    ]


async def test_without_the_funding_manager_here_the_action_is_409() -> None:
    async with web_world() as web, web.client() as client:
        response = await client.post(
            SETTLE, json={"outcome": "not-sent"}, headers=bearer(ALICE_TOKEN)
        )
    assert response.status_code == 409
    assert response.json()["error"] == (
        "the funding manager is not configured in this process ([funding] enabled)"
    )

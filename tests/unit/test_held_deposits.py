"""An operator settles a deposit the funding manager holds, on the simulated exchange and chain
(services/collateral/held.py): not sent, and it fails so that deposits resume; sent in a
transaction the operator names, and it is followed to its arrival with a timeout counted from
then; refused, and recorded as refused, when the deposit is not held or the wallet shows it
sent after all; never overwritten by a lookup of the funding manager that read it held."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.domain.collateral import (
    AlertKind,
    CollateralDecisionRecord,
    CollateralOperation,
    DepositSettlement,
    OperationKind,
    OperationState,
    held_deposit_action,
)
from pegkeeper.domain.errors import VenueUnavailable
from pegkeeper.domain.events import OperatorActed, decode_event
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind, OperatorResult
from pegkeeper.services.collateral.held import HeldDeposits, UnknownOperation
from pegkeeper.services.collateral.operations import OperationSettings
from pegkeeper.services.hedging.operator import Requester
from tests.fakes import FakeOperatorActionRepository
from tests.funding_world import Faulty, FundingWorld, funding_world

D = Decimal
ALICE = Requester("alice", "127.0.0.1")
AMOUNT = D("2.00000417")
SATS = 200_000_417
SETTINGS = OperationSettings(
    lookup_window_seconds=30, deposit_lookup_window_seconds=600, deposit_timeout_seconds=3_600
)


async def held_world() -> tuple[FundingWorld, CollateralOperation]:
    """A deposit whose process died before its send, held after the 600 s lookup window."""
    world = await funding_world(liability_cents=3_000_000, operations=SETTINGS)
    op = CollateralOperation(
        operation_id="pfheld1",
        kind=OperationKind.DEPOSIT,
        currency="BTC",
        amount=AMOUNT,
        decision_id="d0",
        correlation_id="c-held",
        created_at_ms=world.now_ms,
        address=world.engine.wallet.address("BTC"),
    )
    decision = CollateralDecisionRecord(
        decision_id=op.decision_id,
        correlation_id=op.correlation_id,
        created_at_ms=op.created_at_ms,
        trigger="periodic",
        policy="stablesats",
        rule="test",
        action="deposit",
        amount=op.amount,
        currency="BTC",
        liability_cents=3_000_000,
        exposure_cents=0,
        collateral=D(0),
        funding_balance=D(0),
        price_usd=D(10_000),
        leverage=None,
        outcome="acted",
    )
    await world.store.funding.record_decision(decision, op)
    await world.service.cycle("startup")
    world.advance(600)
    await world.service.cycle("periodic")
    assert world.store.funding.operations[op.operation_id].state is OperationState.HELD
    return world, op


def desk(
    world: FundingWorld, wallet: object = "world"
) -> tuple[HeldDeposits, list[OperatorAction]]:
    actions = FakeOperatorActionRepository()
    chosen = world.wallet if wallet == "world" else wallet
    held = HeldDeposits(world.store, actions, chosen, world.clock, world.bus)  # type: ignore[arg-type]
    return held, actions.actions


def deposits(world: FundingWorld) -> list[str]:
    return [
        r.operation.operation_id
        for r in world.store.funding.operations.values()
        if r.operation.kind is OperationKind.DEPOSIT
    ]


async def test_the_alert_says_how_to_settle_it() -> None:
    world, _ = await held_world()
    await world.alerter.drain()
    (alert,) = [a for a in world.sink.delivered if a.kind is AlertKind.DEPOSIT_HELD]
    assert alert.message.endswith(
        "To settle it: check the wallet for a payment labelled pfheld1, then "
        "`pegkeeper funding settle pfheld1 --not-sent` if there is none, or "
        "`pegkeeper funding settle pfheld1 --sent TXID` with its transaction id"
    )
    assert held_deposit_action("pfheld1") in alert.message


async def test_not_sent_fails_it_with_the_note_and_deposits_resume() -> None:
    world, _ = await held_world()
    record = await world.service.cycle("periodic")
    assert record is not None and record.outcome == "waits: deposit pfheld1 pending"
    held, actions = desk(world)
    announced = world.bus.subscribe("operator")
    settled = await held.settle(ALICE, "pfheld1", DepositSettlement.NOT_SENT, note="node lost it")
    assert (settled.operation.state, settled.operation.message) == (
        OperationState.FAILED,
        "not sent, settled by alice: node lost it",
    )
    assert actions == [settled.action]
    action = settled.action
    assert (action.action, action.target, action.result, action.note) == (
        OperatorActionKind.SETTLE_DEPOSIT,
        "pfheld1",
        OperatorResult.DONE,
        "node lost it",
    )
    assert action.detail == "deposit pfheld1 of 2.00000417 BTC failed, never sent: deposits resume"
    assert (action.correlation_id, action.operator) == ("c-held", "alice")  # the deposit's trail
    event = decode_event(announced.queue.get_nowait()[1])
    assert isinstance(event, OperatorActed) and event.action_id == action.action_id
    # the next cycle sends a new deposit: the held one no longer blocks it
    await world.service.cycle("periodic")
    (new_id,) = [d for d in deposits(world) if d != "pfheld1"]
    assert world.store.funding.operations[new_id].state is OperationState.PENDING
    assert len(world.chain.sent()) == 1


async def test_not_sent_is_refused_when_the_wallet_shows_the_send_which_is_then_followed() -> None:
    world, op = await held_world()
    tx_id = await world.wallet.send(op.address, SATS, D(5), op.operation_id)  # slow node
    held, actions = desk(world)
    settled = await held.settle(ALICE, "pfheld1", DepositSettlement.NOT_SENT)
    assert settled.action.result is OperatorResult.FAILED and not settled.wallet_unavailable
    assert settled.action.detail == (
        f"the wallet shows deposit pfheld1 sent in transaction {tx_id}: it is not failed; the "
        "funding manager follows that payment"
    )
    assert actions == [settled.action]  # a refusal is in the audit trail too
    assert settled.operation.state is OperationState.HELD
    await world.service.cycle("periodic")
    found = world.store.funding.operations["pfheld1"]
    assert (found.state, found.tx_id) == (OperationState.PENDING, tx_id)


async def test_not_sent_is_refused_while_the_wallet_cannot_be_asked() -> None:
    world, _ = await held_world()
    wallet = Faulty(world.wallet)
    wallet.always["find_sent"] = VenueUnavailable("connection refused")
    held, _ = desk(world, wallet)
    settled = await held.settle(ALICE, "pfheld1", DepositSettlement.NOT_SENT)
    assert settled.wallet_unavailable and settled.action.result is OperatorResult.FAILED
    assert settled.action.detail == (
        "the wallet could not be asked whether deposit pfheld1 was sent (connection refused): "
        "it is still held; try again"
    )
    assert world.store.funding.operations["pfheld1"].state is OperationState.HELD


async def test_sent_follows_the_named_transaction_with_a_timeout_from_the_settlement() -> None:
    world, op = await held_world()
    world.advance(7_200)  # held for two hours: past the deposit timeout since it was made
    await world.service.cycle("periodic")
    # the operator finds the payment, made without the operation's label
    tx_id = await world.wallet.send(op.address, SATS, D(5), "")
    held, _ = desk(world)
    settled = await held.settle(ALICE, "pfheld1", DepositSettlement.SENT, tx_id, "found it")
    assert (settled.operation.state, settled.operation.tx_id, settled.operation.message) == (
        OperationState.PENDING,
        tx_id,
        f"sent in {tx_id}, settled by alice: found it",
    )
    assert settled.action.detail == (
        f"deposit pfheld1 of 2.00000417 BTC is pending with transaction {tx_id}: followed "
        "until the exchange credits it"
    )
    await world.service.cycle("periodic")  # not lost at once: the timeout counts from now
    assert world.store.funding.operations["pfheld1"].state is OperationState.PENDING
    for _ in range(12):  # blocks are found, the exchange credits it
        world.advance(300)
        await world.service.cycle("periodic")
    done = world.store.funding.operations["pfheld1"]
    assert (done.state, done.tx_id) == (OperationState.DONE, tx_id)


async def test_sent_and_never_credited_is_lost_a_timeout_after_the_settlement() -> None:
    world, _ = await held_world()
    world.advance(7_200)
    held, _ = desk(world)
    tx_id = "ab" * 32  # a transaction the exchange never sees
    await held.settle(ALICE, "pfheld1", DepositSettlement.SENT, tx_id)
    await world.service.cycle("periodic")
    world.advance(3_599)
    await world.service.cycle("periodic")
    assert world.store.funding.operations["pfheld1"].state is OperationState.PENDING
    world.advance(1)
    await world.service.cycle("periodic")
    assert world.store.funding.operations["pfheld1"].state is OperationState.LOST


async def test_only_a_held_deposit_is_settled_and_an_unknown_one_is_not_recorded() -> None:
    world, op = await held_world()
    tx_id = await world.wallet.send(op.address, SATS, D(5), op.operation_id)
    await world.service.cycle("periodic")  # found: pending
    held, actions = desk(world)
    settled = await held.settle(ALICE, "pfheld1", DepositSettlement.SENT, "cd" * 32)
    assert settled.action.result is OperatorResult.FAILED
    assert settled.action.detail == (
        f"deposit pfheld1 is pending (transaction {tx_id}): only a held deposit can be settled"
    )
    assert (settled.operation.state, settled.operation.tx_id) == (OperationState.PENDING, tx_id)
    for unknown in ("pfnope", "not/an/id"):
        with pytest.raises(UnknownOperation, match="no funding operation"):
            await held.settle(ALICE, unknown, DepositSettlement.NOT_SENT)
    assert actions == [settled.action]


async def test_a_lookup_that_read_it_held_does_not_reopen_a_settled_deposit() -> None:
    world, op = await held_world()
    held, _ = desk(world)
    await held.settle(ALICE, "pfheld1", DepositSettlement.NOT_SENT)
    # the send appears after all; a cycle on the last reading (a price tick) still has the
    # deposit as held and finds it: the failed deposit is not written over
    await world.wallet.send(op.address, SATS, D(5), op.operation_id)
    await world.service.cycle("price")
    record = world.store.funding.operations["pfheld1"]
    assert (record.state, record.tx_id) == (OperationState.FAILED, "")
    assert [s for i, s in world.store.funding.states if i == "pfheld1"][-1] is (
        OperationState.FAILED
    )

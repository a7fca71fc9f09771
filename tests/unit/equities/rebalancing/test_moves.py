"""The moves' state machines: the steps of each kind in order, which are irreversible, their
timeouts, the named states a move stops in, and the transitions refused."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from pegkeeper.domain.equities.inventory import CASH_ASSET, Direction
from pegkeeper.domain.equities.move_records import (
    IntentStatus,
    MoveRecord,
    NewMove,
    ProposalStatus,
    StepIntent,
    check_intent_status,
)
from pegkeeper.domain.equities.moves import (
    HALTS,
    HOUR_MS,
    MINUTE_MS,
    ExecutionSwitches,
    Halt,
    InvalidTransition,
    MoveKind,
    MovePlan,
    MoveRoute,
    MoveStatus,
    MoveStep,
    StepTimeouts,
    check_halt,
    overdue,
)
from pegkeeper.domain.errors import InvalidInput

S = MoveStep
ACTIVE, STUCK, FAILED, COMPLETED = (
    MoveStatus.ACTIVE,
    MoveStatus.STUCK,
    MoveStatus.FAILED,
    MoveStatus.COMPLETED,
)
DIRECT = MoveRoute(wrapped=True, bridged=False)
BRIDGED = MoveRoute(wrapped=True, bridged=True)


@pytest.mark.parametrize(
    ("kind", "route", "steps"),
    [
        (
            MoveKind.MINT,
            DIRECT,
            (S.REQUESTED, S.ACCEPTED, S.TOKENS_RECEIVED, S.WRAPPED, S.DEPOSITED, S.COMPLETED),
        ),
        (
            MoveKind.MINT,
            MoveRoute(wrapped=False),
            (S.REQUESTED, S.ACCEPTED, S.TOKENS_RECEIVED, S.DEPOSITED, S.COMPLETED),
        ),
        (
            MoveKind.REDEEM,
            DIRECT,
            (S.WITHDRAWN_FROM_VAULT, S.UNWRAPPED, S.SENT_TO_REDEMPTION, S.MATCHED, S.COMPLETED),
        ),
        (MoveKind.CASH_TO_CHAIN, DIRECT, (S.CONVERTED, S.WITHDRAWN, S.DEPOSITED, S.COMPLETED)),
        (
            MoveKind.CASH_TO_CHAIN,
            BRIDGED,
            (S.CONVERTED, S.WITHDRAWN, S.BURNED, S.BRIDGED, S.DEPOSITED, S.COMPLETED),
        ),
        (
            MoveKind.CASH_HOME,
            DIRECT,
            (S.WITHDRAWN_FROM_VAULT, S.SENT_TO_BROKER, S.RECEIVED, S.CONVERTED, S.COMPLETED),
        ),
        (
            MoveKind.CASH_HOME,
            BRIDGED,
            (
                S.WITHDRAWN_FROM_VAULT,
                S.BURNED,
                S.BRIDGED,
                S.SENT_TO_BROKER,
                S.RECEIVED,
                S.CONVERTED,
                S.COMPLETED,
            ),
        ),
    ],
)
def test_each_kind_goes_through_its_steps_in_order(
    kind: MoveKind, route: MoveRoute, steps: tuple[MoveStep, ...]
) -> None:
    plan = MovePlan(kind, route)
    assert plan.sequence == (S.OPENED, *steps)
    current, status = S.OPENED, ACTIVE
    for step in steps:
        status = plan.advance(status, current, step)
        current = step
    assert (current, status) == (S.COMPLETED, COMPLETED)
    assert plan.next_step(S.COMPLETED) is None


def test_the_irreversible_steps_are_those_that_send_a_request() -> None:
    def irreversible(kind: MoveKind) -> list[MoveStep]:
        return [s.step for s in MovePlan(kind, BRIDGED).specs if s.irreversible]

    assert irreversible(MoveKind.MINT) == [S.REQUESTED, S.WRAPPED, S.DEPOSITED]
    assert irreversible(MoveKind.REDEEM) == [
        S.WITHDRAWN_FROM_VAULT,
        S.UNWRAPPED,
        S.SENT_TO_REDEMPTION,
    ]
    assert irreversible(MoveKind.CASH_TO_CHAIN) == [
        S.CONVERTED,
        S.WITHDRAWN,
        S.BURNED,
        S.BRIDGED,
        S.DEPOSITED,
    ]
    assert irreversible(MoveKind.CASH_HOME) == [
        S.WITHDRAWN_FROM_VAULT,
        S.BURNED,
        S.BRIDGED,
        S.SENT_TO_BROKER,
        S.CONVERTED,
    ]


def test_skipping_going_back_and_changing_an_ended_move_are_refused() -> None:
    plan = MovePlan(MoveKind.MINT, DIRECT)
    with pytest.raises(
        InvalidTransition,
        match="the mint is at requested: the next step is accepted, wrapped would skip it",
    ):
        plan.advance(ACTIVE, S.REQUESTED, S.WRAPPED)
    with pytest.raises(
        InvalidTransition, match="the mint is at wrapped: going back to accepted is refused"
    ):
        plan.advance(ACTIVE, S.WRAPPED, S.ACCEPTED)
    with pytest.raises(InvalidTransition, match="the mint is at wrapped already"):
        plan.advance(ACTIVE, S.WRAPPED, S.WRAPPED)
    with pytest.raises(InvalidTransition, match="the mint is failed: it cannot go to accepted"):
        plan.advance(FAILED, S.REQUESTED, S.ACCEPTED)
    with pytest.raises(InvalidTransition, match="a mint has no step matched; its steps are"):
        plan.advance(ACTIVE, S.DEPOSITED, S.MATCHED)
    with pytest.raises(InvalidTransition, match="a cash to chain has no step burned"):
        MovePlan(MoveKind.CASH_TO_CHAIN, DIRECT).advance(ACTIVE, S.WITHDRAWN, S.BURNED)


def test_a_stuck_move_goes_on_when_the_late_answer_arrives() -> None:
    plan = MovePlan(MoveKind.REDEEM, DIRECT)
    assert plan.advance(STUCK, S.SENT_TO_REDEMPTION, S.MATCHED) is ACTIVE


def test_halts_are_failed_or_stuck_and_end_only_a_move_still_going() -> None:
    assert check_halt(ACTIVE, Halt.MINT_REJECTED) is FAILED
    assert check_halt(ACTIVE, Halt.ATTESTATION_MISSING) is STUCK
    assert check_halt(STUCK, Halt.TX_REVERTED) is FAILED  # an operator settles a stuck one
    with pytest.raises(InvalidTransition, match="the move is completed"):
        check_halt(COMPLETED, Halt.TX_UNCONFIRMED)
    assert set(HALTS) == set(Halt)
    for info in HALTS.values():
        assert info.status in (FAILED, STUCK) and info.what and info.action


def test_every_step_overrunning_its_timeout_names_a_stuck_state() -> None:
    for kind in MoveKind:
        for spec in MovePlan(kind, BRIDGED).specs:
            assert HALTS[spec.stuck_as].status is STUCK
            assert spec.timeout_ms > 0


def test_overdue_uses_the_next_steps_timeout_or_the_configured_one() -> None:
    plan = MovePlan(MoveKind.CASH_TO_CHAIN, BRIDGED)
    defaults = StepTimeouts()
    # burned at t=0: the attestation and mint (bridged) have an hour
    assert overdue(plan, S.BURNED, 0, HOUR_MS, defaults) is None
    late = overdue(plan, S.BURNED, 0, HOUR_MS + 1, defaults)
    assert late is not None and late.stuck_as is Halt.ATTESTATION_MISSING
    configured = StepTimeouts({S.BRIDGED: 30 * MINUTE_MS})
    assert overdue(plan, S.BURNED, 0, 30 * MINUTE_MS + 1, configured) is not None
    assert overdue(plan, S.COMPLETED, 0, 10**12, defaults) is None
    with pytest.raises(InvalidInput, match="the timeout of step wrapped must be > 0 ms"):
        StepTimeouts({S.WRAPPED: 0})


def test_kinds_by_asset_and_direction() -> None:
    assert MoveKind.of("AAPL", Direction.TO_CHAIN) is MoveKind.MINT
    assert MoveKind.of("AAPL", Direction.TO_BROKER) is MoveKind.REDEEM
    assert MoveKind.of(CASH_ASSET, Direction.TO_CHAIN) is MoveKind.CASH_TO_CHAIN
    assert MoveKind.of(CASH_ASSET, Direction.TO_BROKER) is MoveKind.CASH_HOME
    assert MoveKind.CASH_HOME.direction is Direction.TO_BROKER


def test_execution_needs_the_global_and_the_assets_switch() -> None:
    assert not ExecutionSwitches().allows("AAPL")
    assert not ExecutionSwitches(False, {"AAPL": True}).allows("AAPL")
    assert not ExecutionSwitches(True, {}).allows("AAPL")
    assert ExecutionSwitches(True, {"AAPL": True}).allows("AAPL")


def test_an_intent_only_goes_forward() -> None:
    check_intent_status(S.WRAPPED, IntentStatus.INTENDED, IntentStatus.CONFIRMED)
    check_intent_status(S.WRAPPED, IntentStatus.SENT, IntentStatus.SENT)
    with pytest.raises(InvalidInput, match="the wrapped step is confirmed already"):
        check_intent_status(S.WRAPPED, IntentStatus.CONFIRMED, IntentStatus.FAILED)
    with pytest.raises(InvalidInput, match="cannot go from sent to intended"):
        check_intent_status(S.WRAPPED, IntentStatus.SENT, IntentStatus.INTENDED)


def test_a_new_move_names_an_amount_and_the_asset_its_kind_moves() -> None:
    move = NewMove("m1", MoveKind.CASH_TO_CHAIN, CASH_ASSET, D("100"), 1)
    assert move.direction is Direction.TO_CHAIN and move.route == MoveRoute()
    with pytest.raises(InvalidInput, match="move m2: amount must be > 0, not 0"):
        NewMove("m2", MoveKind.MINT, "AAPL", D("0"), 1)
    with pytest.raises(InvalidInput, match="a mint moves a stock, not USD"):
        NewMove("m3", MoveKind.MINT, CASH_ASSET, D("1"), 1)
    with pytest.raises(InvalidInput, match=r"a cash_home moves cash \(USD\), not AAPL"):
        NewMove("m4", MoveKind.CASH_HOME, "AAPL", D("1"), 1)


def test_statuses_that_hold_the_assets_slot_and_records_by_step() -> None:
    assert [s for s in MoveStatus if s.holds_asset] == [ACTIVE, STUCK]
    assert [s for s in ProposalStatus if s.is_open] == [
        ProposalStatus.PROPOSED,
        ProposalStatus.APPROVED,
    ]
    intent = StepIntent("m1", S.WRAPPED, IntentStatus.SENT, 1, 1, tx_hash="0xab")
    record = MoveRecord(
        "m1",
        MoveKind.MINT,
        "AAPL",
        D("1"),
        DIRECT,
        S.TOKENS_RECEIVED,
        ACTIVE,
        1,
        1,
        1,
        steps=(intent,),
    )
    assert record.intent(S.WRAPPED) == intent and record.intent(S.DEPOSITED) is None
    assert record.plan.spec(S.WRAPPED).irreversible
    with pytest.raises(InvalidTransition, match="a mint has no step matched"):
        record.plan.spec(S.MATCHED)

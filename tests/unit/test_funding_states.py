"""OKX's deposit, withdrawal and transfer states read into venue-neutral ones, by the OKX
adapter's parser and by the adapter over the simulated exchange (which keeps OKX's codes)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues import okx_parse
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.domain.venue import DepositState, MovementState
from pegkeeper.sim.engine import SimEngine

T0 = 1_583_971_200_000


def deposit_row(state: str) -> dict[str, str]:
    return {
        "ccy": "BTC",
        "chain": "BTC-Bitcoin",
        "amt": "0.50000123",
        "to": "bc1qexchange",
        "txId": "ab" * 32,
        "depId": "d1",
        "state": state,
        "ts": str(T0),
    }


def withdrawal_row(state: str) -> dict[str, str]:
    return {
        "ccy": "BTC",
        "chain": "BTC-Bitcoin",
        "amt": "0.1",
        "fee": "0.0001",
        "to": "bc1qcold",
        "txId": "",
        "wdId": "w1",
        "clientId": "pfw1",
        "state": state,
        "ts": str(T0),
    }


# the hedging spec: 2 and 13 are success; 0, 1, 8 and 12 pending (1 is credited but not final)
@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("0", DepositState.PENDING),
        ("1", DepositState.PENDING),
        ("2", DepositState.CREDITED),
        ("8", DepositState.PENDING),
        ("12", DepositState.PENDING),
        ("13", DepositState.CREDITED),
    ],
)
def test_okx_deposit_states(code: str, state: DepositState) -> None:
    deposit = okx_parse.deposit(deposit_row(code))
    assert (deposit.state, deposit.venue_state) == (state, code)
    assert deposit.is_credited is (state is DepositState.CREDITED)
    assert deposit.amount == D("0.50000123") and deposit.address == "bc1qexchange"


# the OKX spec: withdrawal 2 success; -1, -2 failed; the rest pending
@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("-2", MovementState.FAILED),
        ("-1", MovementState.FAILED),
        ("0", MovementState.PENDING),
        ("1", MovementState.PENDING),
        ("2", MovementState.DONE),
        ("7", MovementState.PENDING),
    ],
)
def test_okx_withdrawal_states(code: str, state: MovementState) -> None:
    report = okx_parse.withdrawal(withdrawal_row(code))
    assert (report.state, report.venue_state) == (state, code)
    assert report.succeeded is (code == "2")
    assert report.failed is (code in {"-1", "-2"})


@pytest.mark.parametrize(
    ("row_state", "state"),
    [
        ("success", MovementState.DONE),
        ("pending", MovementState.PENDING),
        ("failed", MovementState.FAILED),
    ],
)
def test_okx_transfer_states(row_state: str, state: MovementState) -> None:
    row = {"ccy": "BTC", "amt": "0.3", "from": "6", "to": "18", "clientId": "t1", "transId": "9"}
    report = okx_parse.transfer(row | {"state": row_state})
    assert (report.state, report.venue_state) == (state, row_state)
    assert (report.from_account, report.to_account) == ("funding", "trading")
    # the answer to the request carries no state: the caller says what it stands for
    assert okx_parse.transfer(row, state="pending").state is MovementState.PENDING


async def test_the_simulated_exchange_s_deposits_are_credited_only_when_final() -> None:
    clock = ManualClock(start_ms=T0)
    engine = SimEngine(deposit_confirmation_ms=60_000)
    engine.set_price(T0, D(7000))
    funding = SimFunding(engine, clock)
    engine.wallet.receive(D("0.5"), "BTC", T0)
    (seen,) = await funding.deposits("BTC")
    assert (seen.state, seen.venue_state) == (DepositState.PENDING, "0")
    clock.advance(30)  # half the confirmation time: OKX's 1, in the account but not final
    (seen,) = await funding.deposits("BTC")
    assert (seen.state, seen.venue_state) == (DepositState.PENDING, "1")
    clock.advance(30)
    (seen,) = await funding.deposits("BTC")
    assert (seen.state, seen.venue_state) == (DepositState.CREDITED, "2")


async def test_the_simulated_exchange_s_withdrawals_and_transfers() -> None:
    clock = ManualClock(start_ms=T0)
    engine = SimEngine(withdrawal_ms=60_000)
    engine.set_price(T0, D(7000))
    engine.credit_funding(D(1))
    funding = SimFunding(engine, clock)
    moved = await funding.transfer("t1", "BTC", D("0.25"), "funding", "trading")
    assert (moved.state, moved.venue_state) == (MovementState.DONE, "success")
    sent = await funding.withdraw("w1", "BTC", D("0.1"), "bc1qcold", "BTC-Bitcoin")
    assert (sent.state, sent.venue_state) == (MovementState.PENDING, "0")
    clock.advance(30)
    broadcast = await funding.withdrawal("w1")
    assert (broadcast.state, broadcast.venue_state) == (MovementState.PENDING, "1")
    clock.advance(30)
    done = await funding.withdrawal("w1")
    assert (done.state, done.venue_state) == (MovementState.DONE, "2") and done.succeeded

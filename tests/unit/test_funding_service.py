"""The funding manager on the simulated exchange and chain, with a manual clock: transfers,
deposits matched in the exchange's history, lost deposits, fee bumps, refusals that are not
retried in a loop, uncertain requests looked up before anything new, and the alerts."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.collateral import (
    AlertKind,
    CollateralDecisionRecord,
    CollateralOperation,
    OperationKind,
    OperationState,
    Severity,
)
from pegkeeper.domain.collateral_policy import (
    StablesatsCollateralParams,
    StablesatsCollateralPolicy,
)
from pegkeeper.domain.errors import NotFound, VenueMisconfigured, VenueUnavailable, VenueUncertain
from pegkeeper.domain.instruments import BTC_USDT_SWAP
from pegkeeper.domain.ledger_sync import LedgerReadiness
from pegkeeper.domain.orders import OrderSide
from pegkeeper.domain.units import floor_btc, round_btc, sats_to_btc
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.collateral.manager import CollateralManager, CollateralSettings
from pegkeeper.services.collateral.operations import OperationSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.chain import fee_of
from pegkeeper.sim.engine import SimEngine
from tests.fakes import FakeStore, RecordingSink
from tests.funding_world import FundingWorld, funding_world

D = Decimal


def ops(world: FundingWorld, kind: str | None = None) -> list:
    records = list(world.store.funding.operations.values())
    return [r for r in records if kind is None or r.operation.kind.value == kind]


async def test_exposure_near_the_high_bound_is_topped_up_from_the_funding_account() -> None:
    # 36 200 USD short at 10 000 USD = 3.62 BTC on 1 BTC of equity: rule 8 (1.11 BTC in
    # funding is not above 1 / 0.9, so rule 7 does not come first)
    world = await funding_world(
        trading_btc="1", funding_btc="1.11", liability_cents=3_620_000, short_contracts=362
    )
    equity, _ = world.balances()
    record = await world.service.cycle("periodic")
    assert record is not None and record.rule == "8-exposure-near-high-bound"
    assert record.outcome == "acted"
    (transfer,) = ops(world)
    expected = round_btc(D(362 * 100) / PRICE_BTC / 3 - equity)  # about 0.2067
    assert transfer.operation.amount == expected and transfer.state is OperationState.DONE
    equity_after, funding_after = world.balances()
    assert funding_after == D("1.11") - expected and equity_after == equity + expected
    # leverage is back at 3 and 0.90 BTC is left in funding: nothing more to do
    again = await world.service.cycle("periodic")
    assert again is not None and again.action == "hold" and len(ops(world)) == 1


PRICE_BTC = D(10_000)


async def test_a_deposit_is_sent_with_jitter_and_counts_only_in_state_2() -> None:
    # 30 000 USD owed, nothing at the exchange: rule 1, 3/3 = 1 BTC plus the 1 BTC refill
    world = await funding_world(liability_cents=3_000_000)
    wallet_before = world.chain.balance_sats
    await world.service.cycle("startup")
    (deposit,) = ops(world, "deposit")
    jitter = deposit.operation.amount - 2
    assert sats_to_btc(1) <= jitter <= sats_to_btc(1_000)
    assert deposit.state is OperationState.PENDING and deposit.tx_id
    assert deposit.operation.address == world.engine.wallet.address("BTC")
    fee = fee_of(D(5))  # 141 vB at the default 5 sat/vB
    sent = int(deposit.operation.amount * 100_000_000)
    assert world.chain.balance_sats == wallet_before - sent - fee
    # while it is on its way, no second deposit
    record = await world.service.cycle("periodic")
    assert record is not None and record.outcome.startswith("waits: deposit")
    assert len(ops(world, "deposit")) == 1
    world.advance(600)  # mined: the exchange sees it (state 0)
    world.advance(300)  # state 1: credited to the funding account, not final
    await world.service.cycle("periodic")
    (deposit,) = ops(world, "deposit")
    assert deposit.state is OperationState.PENDING
    assert world.engine.wallet.deposits()[0].state == "1"
    assert len(ops(world, "deposit")) == 1  # state 1 is not arrival: no duplicate deposit
    world.advance(300)  # state 2
    await world.service.cycle("periodic")
    (deposit,) = ops(world, "deposit")
    assert deposit.state is OperationState.DONE and deposit.venue_id == "D1"
    assert deposit.tx_id == world.engine.wallet.deposits()[0].tx_id


async def test_no_deposit_goes_to_an_address_okx_would_credit_elsewhere() -> None:
    world = await funding_world(liability_cents=3_000_000)  # rule 1 asks for a deposit
    why = "OKX gave no BTC deposit address on chain BTC-Bitcoin credited to the funding account"
    world.funding.always["deposit_address"] = NotFound(why)
    wallet_before = world.chain.balance_sats
    record = await world.service.cycle("startup")
    assert record is not None and record.action == "deposit"
    assert record.outcome == f"cannot: {why}"
    assert world.store.funding.decisions[-1].outcome == f"cannot: {why}"
    assert ops(world, "deposit") == [] and world.chain.sent() == []
    assert world.chain.balance_sats == wallet_before
    await world.alerter.drain()
    (alert,) = [a for a in world.sink.delivered if a.kind is AlertKind.FUNDING_REFUSED]
    assert why in alert.message


async def test_a_deposit_not_credited_in_time_is_lost_and_alerted() -> None:
    world = await funding_world(
        liability_cents=3_000_000,
        min_fee_rate_sat_vb=D(1_000),  # nothing at our fee rate is ever mined
        operations=OperationSettings(deposit_timeout_seconds=3_600),
    )
    await world.service.cycle("startup")
    (deposit,) = ops(world, "deposit")
    world.advance(3_599)
    await world.service.cycle("periodic")
    assert ops(world, "deposit")[0].state is OperationState.PENDING
    world.advance(1)
    await world.service.cycle("periodic")
    lost = world.store.funding.operations[deposit.operation.operation_id]
    assert lost.state is OperationState.LOST
    await world.alerter.drain()
    (alert,) = [a for a in world.sink.delivered if a.kind is AlertKind.DEPOSIT_LOST]
    assert alert.details["operation_id"] == deposit.operation.operation_id
    assert world.store.funding.alerts[-1].delivered


async def test_a_stuck_deposit_gets_its_fee_bumped_step_by_step_while_leverage_is_high() -> None:
    # 40 000 USD short on 0.9 BTC: leverage 4.44 > 4; the funding account is empty: rule 5
    # sends a deposit at 5 sat/vB into a mempool that needs 12
    world = await funding_world(
        trading_btc="0.9",
        liability_cents=4_000_000,
        short_contracts=400,
        min_fee_rate_sat_vb=D(12),
        operations=OperationSettings(
            deposit_fee_rate_sat_vb=D(5),
            fee_bump_step_sat_vb=D(5),
            max_fee_rate_sat_vb=D(20),
            fee_bump_after_seconds=600,
        ),
    )
    record = await world.service.cycle("startup")
    assert record is not None and record.rule == "5-liability-over-high-bound-deposit"
    (deposit,) = ops(world, "deposit")
    first_tx = deposit.tx_id
    world.advance(599)
    await world.service.cycle("periodic")
    assert world.store.funding.bumps == []  # not yet 600 s
    world.advance(1)  # a block at 600 s leaves it behind; 600 s since it was sent: bump
    await world.service.cycle("periodic")
    world.advance(600)  # still behind at 10 sat/vB: bump to 15
    await world.service.cycle("periodic")
    bumps = world.store.funding.bumps
    assert [(b.old_fee_rate_sat_vb, b.new_fee_rate_sat_vb) for b in bumps] == [
        (5, 10),
        (10, 15),
    ]
    assert bumps[0].old_tx_id == first_tx and bumps[1].old_tx_id == bumps[0].new_tx_id
    assert all(b.leverage is not None and b.leverage > 4 for b in bumps)
    world.advance(600)  # 15 >= 12: mined
    await world.service.cycle("periodic")
    assert len(world.store.funding.bumps) == 2  # confirmed: no more bumps
    tx = await world.wallet.transaction(bumps[1].new_tx_id)
    assert tx.confirmations == 1 and tx.fee_rate_sat_vb == 15
    world.advance(600)
    await world.service.cycle("periodic")
    deposit = world.store.funding.operations[deposit.operation.operation_id]
    assert deposit.state is OperationState.DONE and deposit.tx_id == bumps[1].new_tx_id


async def test_a_refused_withdrawal_is_recorded_and_not_retried_until_its_inputs_change() -> None:
    # leverage 3 on a 30 000 USD short, 1.5 BTC in funding: rule 7 withdraws 0.5
    world = await funding_world(
        trading_btc="1", funding_btc="1.5", liability_cents=3_000_000, short_contracts=300
    )
    world.engine.wallet.withdrawal_limit = D("0.1")
    await world.service.cycle("periodic")
    (refused,) = ops(world, "withdrawal")
    assert refused.state is OperationState.REFUSED and "58201" in refused.message
    assert refused.operation.amount == D("0.5") and refused.operation.fee == D("0.0001")
    for _ in range(3):
        world.advance(10)
        record = await world.service.cycle("periodic")
        assert record is not None and record.outcome.startswith("refused-before")
    assert world.funding.calls["withdraw"] == 1  # one request, no loop
    await world.alerter.drain()
    refusals = [a for a in world.sink.delivered if a.kind is AlertKind.FUNDING_REFUSED]
    assert len(refusals) == 1
    # the funding balance changes: tried again (refused again, a second request)
    world.engine.credit_funding(D("0.2"))
    await world.service.cycle("periodic")
    assert world.funding.calls["withdraw"] == 2
    world.engine.wallet.withdrawal_limit = None
    world.engine.credit_funding(D("0.1"))
    await world.service.cycle("periodic")
    done = [r for r in ops(world, "withdrawal") if r.state is not OperationState.REFUSED]
    (pending,) = done
    assert pending.operation.amount == D("0.8") and pending.state is OperationState.PENDING
    wallet_before = world.chain.balance_sats
    world.advance(600)
    await world.service.cycle("periodic")
    assert world.store.funding.operations[pending.operation.operation_id].state is (
        OperationState.DONE
    )
    assert world.chain.balance_sats == wallet_before + 80_000_000


async def test_a_transfer_whose_answer_was_lost_is_looked_up_not_repeated() -> None:
    world = await funding_world(
        trading_btc="1", funding_btc="1.11", liability_cents=3_620_000, short_contracts=362
    )
    world.funding.after["transfer"] = VenueUncertain("read timeout")
    await world.service.cycle("periodic")
    (transfer,) = ops(world)
    assert transfer.state is OperationState.UNKNOWN
    _, funding = world.balances()
    await world.service.cycle("periodic")
    (transfer,) = ops(world)
    assert transfer.state is OperationState.DONE and transfer.venue_id == "T1"
    assert world.funding.calls["transfer"] == 1
    assert world.balances()[1] == funding  # moved once


async def test_a_transfer_that_never_arrived_is_lost_after_the_lookup_window() -> None:
    world = await funding_world(
        trading_btc="1",
        funding_btc="1.11",
        liability_cents=3_620_000,
        short_contracts=362,
        operations=OperationSettings(lookup_window_seconds=30),
    )
    world.funding.before["transfer"] = VenueUncertain("connection reset")
    await world.service.cycle("periodic")
    world.advance(10)
    record = await world.service.cycle("periodic")
    assert record is not None and record.outcome.startswith("waits: transfer_to_trading")
    assert world.funding.calls["transfer"] == 1
    world.advance(21)
    await world.service.cycle("periodic")
    states = [r.state for r in ops(world)]
    assert states == [OperationState.LOST, OperationState.DONE]
    assert world.funding.calls["transfer"] == 2


async def test_collateral_stays_while_the_hedge_is_outside_its_brackets() -> None:
    # 10 000 USD owed, no short yet, 2 BTC in trading: rule 6 would move 2 BTC out
    world = await funding_world(trading_btc="2", funding_btc="1", liability_cents=1_000_000)
    record = await world.service.cycle("liability")
    assert record is not None and record.rule == "6-under-low-bound-out"
    assert record.outcome == "waits: the hedge is outside its brackets" and ops(world) == []
    world.short(98)  # the hedger sells 98 contracts: ratio 0.98
    record = await world.service.cycle("position")
    assert record is not None and record.outcome == "acted"
    (out,) = ops(world)
    assert out.operation.kind.value == "transfer_to_funding"


async def test_price_ticks_cost_no_request_until_the_policy_would_act() -> None:
    world = await funding_world(
        trading_btc="1", funding_btc="1", liability_cents=3_000_000, short_contracts=300
    )
    record = await world.service.cycle("startup")
    assert record is not None and record.action == "hold"
    calls = sum(world.venue.calls.values()) + sum(world.funding.calls.values())
    assert world.service.on_price(D(10_100)) is False
    assert world.service.on_price(D(9_500)) is False
    # +15 %: equity 1 - 30 000 (1/10 000 - 1/11 500) = 0.6087 BTC, and the 30 000 USD
    # liability is 2.6087 BTC > 4 x 0.6087: rule 5 (leverage 4.29)
    assert world.service.on_price(D(11_500)) is True
    assert sum(world.venue.calls.values()) + sum(world.funding.calls.values()) == calls
    world.set_price(D(11_500))
    record = await world.service.cycle("price")
    assert record is not None and record.rule == "5-liability-over-high-bound"
    assert world.service.state is not None
    assert world.service.state.reading.leverage is not None
    assert round(world.service.state.reading.leverage, 2) == D(3)


async def test_a_new_liability_asks_for_a_cycle_only_when_the_policy_would_act() -> None:
    world = await funding_world(
        trading_btc="1", funding_btc="1", liability_cents=3_000_000, short_contracts=300
    )
    record = await world.service.cycle("startup")
    assert record is not None and record.action == "hold"
    calls = sum(world.venue.calls.values()) + sum(world.funding.calls.values())
    assert world.service.on_liability(3_000_000) is False  # the one it read
    # 35 000 USD is 3.5 BTC at 10 000: under 4 x the collateral (1 BTC less the short's fee)
    assert world.service.on_liability(3_500_000) is False
    # 41 000 USD is 4.1 BTC: over 4 x 1 BTC, rule 5
    assert world.service.on_liability(4_100_000) is True
    assert sum(world.venue.calls.values()) + sum(world.funding.calls.values()) == calls


async def test_liquidation_distance_under_the_floor_is_alerted_once_and_resolved() -> None:
    world = await funding_world(
        trading_btc="1",
        funding_btc="0.95",
        liability_cents=3_000_000,
        short_contracts=300,
        alerts=AlertSettings(liquidation_distance_floor_pct=D(45)),
    )
    await world.service.cycle("startup")  # leverage 3: about 49 % from liquidation
    world.set_price(D(10_500))  # leverage 3.4, inside the bounds; distance 42 %
    await world.service.cycle("price")
    await world.service.cycle("periodic")
    world.set_price(D(10_000))
    await world.service.cycle("price")
    await world.alerter.drain()
    alerts = [a for a in world.sink.delivered if a.kind is AlertKind.LIQUIDATION_DISTANCE]
    assert [a.severity for a in alerts] == [Severity.CRITICAL, Severity.RESOLVED]
    assert "from liquidation" in alerts[0].message


async def test_a_stale_venue_and_a_failing_account_check_are_alerted() -> None:
    async def account_check() -> None:
        raise VenueMisconfigured("the account level (acctLv) is 1: set it to 2")

    world = await funding_world(
        trading_btc="1",
        funding_btc="1",
        liability_cents=3_000_000,
        short_contracts=300,
        alerts=AlertSettings(feed_stale_after_seconds=120),
        account_check=account_check,
    )
    await world.service.cycle("startup")
    world.venue.always["position"] = VenueUnavailable("the mark price is 75 s old")
    world.advance(100)
    assert await world.service.cycle("price") is None
    world.advance(30)
    await world.service.cycle("price")
    await world.alerter.drain()
    kinds = [a.kind for a in world.sink.delivered]
    assert kinds.count(AlertKind.ACCOUNT_CHECK_FAILED) == 1
    (stale,) = [a for a in world.sink.delivered if a.kind is AlertKind.FEED_STALE]
    assert "130 s" in stale.message and "75 s old" in stale.message


async def test_a_hedge_left_outside_its_brackets_is_alerted_after_the_threshold() -> None:
    world = await funding_world(
        trading_btc="1",
        funding_btc="1",
        liability_cents=3_000_000,
        alerts=AlertSettings(hedge_outside_brackets_seconds=300),
    )
    await world.service.cycle("startup")
    world.advance(299)
    await world.service.cycle("periodic")
    assert not world.alerter.is_active(AlertKind.HEDGE_OUTSIDE_BRACKETS, "hedge")
    world.advance(1)
    await world.service.cycle("periodic")
    await world.alerter.drain()
    (alert,) = [a for a in world.sink.delivered if a.kind is AlertKind.HEDGE_OUTSIDE_BRACKETS]
    assert "hedge ratio 0.0000 for 300 s" in alert.message


async def test_an_alert_the_webhook_refuses_is_still_recorded() -> None:
    world = await funding_world(liability_cents=3_000_000, min_fee_rate_sat_vb=D(1_000))
    world.sink.fail_with = RuntimeError("the webhook answered HTTP 500")
    world.alerter.event(AlertKind.DEPOSIT_LOST, "t", "m")
    await world.alerter.drain()
    (record,) = world.store.funding.alerts
    assert not record.delivered and record.error == "the webhook answered HTTP 500"


def test_floor_helpers() -> None:
    assert floor_btc(D("0.123456789")) == D("0.12345678")


async def test_a_linear_swap_is_funded_in_usdt_by_transfers_only() -> None:
    clock = ManualClock(1_700_006_400_000)
    engine = SimEngine([BTC_USDT_SWAP], taker_fee_rate=D(0), leverage=10)
    engine.set_price(clock.now_ms(), D(10_000))
    engine.credit_trading(D(2_500), "USDT")
    engine.credit_funding(D(2_000), "USDT")
    engine.place_market_order("s", "BTC-USDT-SWAP", OrderSide.SELL, D(100), clock.now_ms())
    store, sink, bus = FakeStore(), RecordingSink(), MemoryBus()
    await LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**9).post(
        "u", 1_000_000
    )
    alerter = Alerter(sink, store.funding, clock, AlertSettings())
    service = CollateralManager(
        store,
        SimVenue(engine, clock),
        SimFunding(engine, clock),
        None,  # no USDT wallet
        bus,
        clock,
        StablesatsCollateralPolicy(
            StablesatsCollateralParams(minimum_funding_balance_btc=D(1_000))
        ),
        Allocation.single("BTC-USDT-SWAP"),
        alerter,
        CollateralSettings(currency="USDT"),
    )
    # the BTC account's deposit on its way is the BTC service's to follow, not this one's
    btc_deposit = CollateralOperation(
        "pfbtc1", OperationKind.DEPOSIT, "BTC", D("0.5"), "d0", "c0", clock.now_ms(), "bc1qx"
    )
    await store.funding.record_decision(decision_for(btc_deposit), btc_deposit)
    equity = engine.balances("USDT").trading_equity  # 2 500 less the half-dollar spread
    record = await service.cycle("startup")
    # 10 000 USD owed = 10 000 USDT (1 USDT counts as 1 USD) > 4 x 2 499.5: rule 5 tops the
    # collateral up to a third of it from the funding account
    assert record is not None and record.rule == "5-liability-over-high-bound"
    (transfer,) = [o for o in store.funding.operations.values() if o.operation.currency == "USDT"]
    assert transfer.operation.currency == "USDT" and transfer.state is OperationState.DONE
    assert transfer.operation.amount == round_btc(D(10_000) / 3 - equity)
    # 1 166 USDT left in funding is over 1 000 / 0.9: rule 7 would withdraw, but USDT has no
    # wallet here: refused before sending anything, alerted once, not retried
    record = await service.cycle("periodic")
    assert (
        record is not None and record.outcome == "cannot: no onchain wallet for USDT is configured"
    )
    again = await service.cycle("periodic")
    assert again is not None and again.outcome.startswith("refused-before")
    await alerter.drain()
    assert [a.kind for a in sink.delivered] == [AlertKind.FUNDING_REFUSED]
    assert len(store.funding.operations) == 2
    assert store.funding.operations["pfbtc1"].state is OperationState.CREATED  # untouched


def orphan_deposit(world: FundingWorld, operation_id: str, amount: str) -> CollateralOperation:
    return CollateralOperation(
        operation_id=operation_id,
        kind=OperationKind.DEPOSIT,
        currency="BTC",
        amount=D(amount),
        decision_id="d0",
        correlation_id="c0",
        created_at_ms=world.now_ms,
        address=world.engine.wallet.address("BTC"),
    )


async def test_a_deposit_sent_by_a_process_that_died_is_found_by_its_id_not_sent_again() -> None:
    world = await funding_world(liability_cents=3_000_000)
    op = orphan_deposit(world, "pforphan1", "2.00000417")
    await world.store.funding.record_decision(decision_for(op), op)
    # it reached the wallet; the process died before recording the tx id
    tx_id = await world.wallet.send(op.address, 200_000_417, D(5), op.operation_id)
    record = await world.service.cycle("startup")
    found = world.store.funding.operations["pforphan1"]
    assert found.state is OperationState.PENDING and found.tx_id == tx_id
    assert record is not None and record.outcome == "waits: deposit pforphan1 pending"
    assert len(world.chain.sent()) == 1


async def test_a_deposit_the_wallet_does_not_show_is_held_for_an_operator_never_resent() -> None:
    world = await funding_world(
        liability_cents=3_000_000,
        operations=OperationSettings(lookup_window_seconds=30, deposit_lookup_window_seconds=600),
    )
    op = orphan_deposit(world, "pforphan2", "2.00000417")
    await world.store.funding.record_decision(decision_for(op), op)
    await world.service.cycle("startup")
    assert world.store.funding.operations["pforphan2"].state is OperationState.CREATED
    world.advance(599)  # past the transfers' 30 s window, inside the deposits' 600 s
    await world.service.cycle("periodic")
    assert world.store.funding.operations["pforphan2"].state is OperationState.CREATED
    world.advance(1)
    record = await world.service.cycle("periodic")
    held = world.store.funding.operations["pforphan2"]
    assert held.state is OperationState.HELD
    assert held.message == "the wallet shows no send after 600 s: held for an operator"
    assert record is not None and record.outcome == "waits: deposit pforphan2 pending"
    for _ in range(3):  # hours later: still held, nothing sent, alerted once
        world.advance(3_600)
        await world.service.cycle("periodic")
    assert world.store.funding.operations["pforphan2"].state is OperationState.HELD
    assert world.chain.sent() == [] and [r.operation.operation_id for r in ops(world)] == [
        "pforphan2"
    ]
    await world.alerter.drain()
    (alert,) = [a for a in world.sink.delivered if a.kind is AlertKind.DEPOSIT_HELD]
    assert alert.details["operation_id"] == "pforphan2"
    # the send appears after all (a node that was slow): followed as any deposit
    tx_id = await world.wallet.send(op.address, 200_000_417, D(5), op.operation_id)
    await world.service.cycle("periodic")
    found = world.store.funding.operations["pforphan2"]
    assert (found.state, found.tx_id) == (OperationState.PENDING, tx_id)


def decision_for(op: CollateralOperation) -> CollateralDecisionRecord:
    return CollateralDecisionRecord(
        decision_id=op.decision_id,
        correlation_id=op.correlation_id,
        created_at_ms=op.created_at_ms,
        trigger="startup",
        policy="stablesats",
        rule="1-first-collateral-deposit",
        action="deposit",
        amount=D(2),
        currency="BTC",
        liability_cents=3_000_000,
        exposure_cents=0,
        collateral=D(0),
        funding_balance=D(0),
        price_usd=D(10_000),
        leverage=None,
        outcome="acted",
    )


class ClosedGate:
    """A half-imported ledger until `opened`."""

    def __init__(self) -> None:
        self.readiness_now = LedgerReadiness("galoy", False, "the galoy ledger is half-imported")

    def open(self) -> None:
        self.readiness_now = LedgerReadiness("galoy", True, "")

    async def readiness(self) -> LedgerReadiness:
        return self.readiness_now


async def test_no_collateral_leaves_while_the_ledger_is_half_imported() -> None:
    # as above: 10 000 USD owed and hedged by 98 contracts, 2 BTC in trading; rule 6 moves
    # collateral out, but not while the liability it is measured against is half read
    gate = ClosedGate()
    world = await funding_world(
        trading_btc="2", funding_btc="1", liability_cents=1_000_000, gate=gate
    )
    world.short(98)
    record = await world.service.cycle("position")
    assert record is not None and record.rule == "6-under-low-bound-out"
    assert record.outcome == "waits: the galoy ledger is half-imported" and ops(world) == []
    gate.open()
    record = await world.service.cycle("periodic")
    assert record is not None and record.outcome == "acted"
    assert [op.operation.kind.value for op in ops(world)] == ["transfer_to_funding"]


async def test_collateral_still_comes_in_while_the_ledger_is_half_imported() -> None:
    # rule 8 of the first test tops the trading account up: safer whatever the ledger says
    world = await funding_world(
        trading_btc="1",
        funding_btc="1.11",
        liability_cents=3_620_000,
        short_contracts=362,
        gate=ClosedGate(),
    )
    record = await world.service.cycle("periodic")
    assert record is not None and record.rule == "8-exposure-near-high-bound"
    assert record.outcome == "acted"
    assert [op.operation.kind.value for op in ops(world)] == ["transfer_to_trading"]


K = OperationKind
# new kind -> open kinds it waits for (by hand: same class, or money moving the other way)
WAITS = {
    K.DEPOSIT: {K.DEPOSIT, K.WITHDRAWAL, K.TRANSFER_TO_FUNDING},
    K.TRANSFER_TO_TRADING: {K.TRANSFER_TO_TRADING, K.TRANSFER_TO_FUNDING, K.WITHDRAWAL},
    K.TRANSFER_TO_FUNDING: set(K),
    K.WITHDRAWAL: set(K),
}


def test_only_a_deposit_and_a_transfer_to_trading_run_side_by_side() -> None:
    for new, waits in WAITS.items():
        assert {open_kind for open_kind in K if new.waits_for(open_kind)} == waits, new


async def test_no_withdrawal_goes_out_while_a_deposit_comes_in() -> None:
    # leverage 3 on a 30 000 USD short, 1.5 BTC in funding: rule 7 would withdraw 0.5 BTC
    world = await funding_world(
        trading_btc="1", funding_btc="1.5", liability_cents=3_000_000, short_contracts=300
    )
    op = orphan_deposit(world, "pfcoming1", "0.50000417")  # sent, not yet seen by the wallet
    await world.store.funding.record_decision(decision_for(op), op)
    record = await world.service.cycle("periodic")
    assert record is not None and record.rule == "7-funding-surplus-withdraw"
    assert record.outcome == "waits: deposit pfcoming1 pending"
    assert world.funding.calls["withdraw"] == 0 and ops(world, "withdrawal") == []

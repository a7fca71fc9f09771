"""The backtester's funding step is the production funding manager, over the run's simulated
exchange, chain and clock: what it moves is counted in the results."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.backtest.costs import CostModel
from pegkeeper.backtest.flows import Flows
from pegkeeper.backtest.funding_rates import FundingSchedule
from pegkeeper.backtest.prices import parse_prices
from pegkeeper.backtest.runner import BacktestInputs, BacktestSettings, PolicyRun
from pegkeeper.backtest.service_funding import ServiceFunding
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.sim.events import AccountType

START_MS = 1_583_971_200_000  # 2020-03-12 00:00 UTC
HEADER = "open_time_ms,open,high,low,close,volume"


def jump_path() -> BacktestInputs:
    """Two minutes at 10 000, a jump to 12 000 and an hour there."""
    closes = [10_000] * 2 + [12_000] * 62
    rows, previous = [], closes[0]
    for i, close in enumerate(closes):
        high, low = max(previous, close), min(previous, close)
        rows.append(f"{START_MS + i * 60_000},{previous},{high},{low},{close},100")
        previous = close
    path = parse_prices([HEADER, *rows], "jump")
    return BacktestInputs(path, Flows("none", (), ()), FundingSchedule.constant_rate(Decimal(0)))


async def test_the_funding_manager_tops_the_collateral_up_and_refills_onchain() -> None:
    settings = BacktestSettings(
        initial_liability_usd=Decimal(100_000), costs=CostModel(deposit_minutes=10)
    )
    run = PolicyRun(StablesatsHedgePolicy(), jump_path(), settings)
    result = await run.run()
    assert isinstance(run.funding, ServiceFunding)
    engine = run.engine
    # the opening: 100 000 USD at 10 000 is 10 BTC; 10 / 3 = 3.33333333 BTC of collateral and
    # half of it, 1.66666666, in the funding account; the hedge sells 980 contracts. The
    # startup cycle withdraws the funding account's surplus over 1 BTC (stablesats rule 7):
    withdrawals = engine.wallet.withdrawals()
    assert [w.amount for w in withdrawals] == [Decimal("0.66666666")]
    # at 12 000 the liability is 1 000 contracts = 8.33333333 BTC; the collateral
    # 3.33333333 - 0.0049 (the opening's fee) - 98 000 * (1 / 10 000 - 1 / 12 000) =
    # 1.69513333 BTC; 8.333 > 4 x 1.695 (rule 5): up to a third of the liability needs
    # 2.77777778 - 1.69513333 = 1.08264445 BTC, more than the funding account holds after the
    # withdrawal and its 0.0001 BTC fee: 1.66666666 - 0.66666666 - 0.0001 = 0.9999, all of it
    # It waits for the withdrawal (10 min at the exchange) and moves at the next periodic
    # check, at 10 min:
    moved = engine.transfers[run._transfers_at_start :]
    assert [(t.amount_btc, t.from_account, t.to_account) for t in moved] == [
        (Decimal("0.9999"), AccountType.FUNDING, AccountType.TRADING)
    ]
    assert moved[0].ts_ms == START_MS + 10 * 60_000
    # the empty funding account is refilled onchain (rule 9) at the next tick: 1 BTC plus up
    # to 1 000 sats of jitter, mined in the block at 20 min, credited 10 min later
    deposits = engine.wallet.deposits()
    assert len(deposits) == 1
    assert Decimal(1) < deposits[0].amount <= Decimal("1.00001")
    assert deposits[0].ts_ms == START_MS + 20 * 60_000 and deposits[0].state == "2"
    assert engine.balances("BTC").funding_balance == deposits[0].amount
    # one transfer and one deposit after the start; the startup's withdrawal is the opening's
    m = result.metrics
    assert m.transfers == 2 and m.transfer_fees_usd == 0
    assert not m.liquidated


async def test_the_chain_follows_the_simulated_clock() -> None:
    settings = BacktestSettings(
        initial_liability_usd=Decimal(100_000), costs=CostModel(deposit_minutes=10)
    )
    run = PolicyRun(StablesatsHedgePolicy(), jump_path(), settings)
    await run.run()
    assert isinstance(run.funding, ServiceFunding)
    chain = run.funding.wallet.chain
    # the path ends 63 min 45 s after it starts: a block every 10 min, 6 of them
    assert chain.height == 6
    # the withdrawal (0.66666666, its 0.0001 fee paid apart) came back to the operator's wallet
    # and the deposit (1 BTC + jitter + its fee) left it: 10 BTC at the start
    engine_deposit = run.engine.wallet.deposits()[0].amount
    sent = chain.sent()
    assert len(sent) == 1 and Decimal(sent[0].amount_sats) / 10**8 == engine_deposit
    fee_sats = sent[0].fee_sats
    expected_sats = 10**9 + 66_666_666 - int(engine_deposit * 10**8) - fee_sats
    assert chain.balance_sats == expected_sats

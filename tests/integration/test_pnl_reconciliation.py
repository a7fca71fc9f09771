"""The dealer's P&L over a window on the in-process simulated exchange and chain, from the SQL
store the hedger and the funding manager write: hedges, a funding settlement, a withdrawal to
the operator's own wallet and a deposit from it. The components must sum to the change of
total equity (venue trading and funding accounts plus the wallet), which no flow from outside
changed, and each must match the simulator's own records."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import open_store
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.adapters.wallet.sim import SimWallet
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.collateral import OperationState
from pegkeeper.domain.collateral_policy import StablesatsCollateralPolicy
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.instruments import BTC_USD_SWAP
from pegkeeper.domain.pnl import dealer_pnl
from pegkeeper.domain.units import SATS_PER_BTC
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.collateral.manager import CollateralManager, CollateralSettings
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.chain import SimChain
from pegkeeper.sim.engine import SimEngine
from tests.fakes import RecordingSink

SWAP = "BTC-USD-SWAP"
START_MS = 1_700_031_600_000  # 2023-11-15 07:00 UTC: the 08:00 funding falls in the window
SATS = Decimal("0.00000001")


async def test_the_components_reconcile_with_the_equity_of_venue_and_wallet(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START_MS)
    engine = SimEngine([BTC_USD_SWAP], leverage=10)  # taker fee 0.05 %, funding rate 0.01 %
    engine.set_price(START_MS, Decimal(10_000))
    engine.credit_trading(Decimal(2))
    engine.credit_funding(Decimal(1))
    chain = SimChain(START_MS, 5 * 100_000_000, block_interval_ms=60_000)
    wallet = SimWallet(chain, clock, engine.wallet)
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'pegkeeper.db'}")
    bus = MemoryBus()
    venue, funding = SimVenue(engine, clock), SimFunding(engine, clock)
    hedger = HedgerService(
        store,
        venue,
        bus,
        clock,
        StablesatsHedgePolicy(),
        HedgerSettings(snapshot_interval_seconds=1),
    )
    manager = CollateralManager(
        store,
        venue,
        funding,
        wallet,
        bus,
        clock,
        StablesatsCollateralPolicy(),
        Allocation.single(SWAP),
        Alerter(RecordingSink(), store.funding, clock, AlertSettings()),
        CollateralSettings(),
    )
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**10)

    def equity_btc() -> Decimal:
        """Venue trading and funding accounts and the wallet, as the simulator holds them."""
        b = engine.balances("BTC")
        return b.trading_equity + b.funding_balance + Decimal(chain.balance_sats) / SATS_PER_BTC

    async def step(seconds: int, price: str) -> None:
        clock.advance(seconds)
        engine.set_price(clock.now_ms(), Decimal(price))
        wallet.sync()
        await manager.cycle("periodic")
        await hedger.cycle("periodic", "p")

    try:
        await hedger.cycle("startup", "s")
        start_ms, start_equity, start_totals = clock.now_ms(), equity_btc(), engine.totals()
        clock.advance(1)
        await manager.cycle("startup")
        # users hold 10 000 USD: a short, a third of the liability's value to trading, and
        # what the funding account holds above 1 BTC goes home to the wallet
        await liability.post("u1", 1_000_000)
        await hedger.cycle("liability", "l1")
        for minute in range(30):
            await step(60, str(10_000 - 10 * minute))
        # users buy 40 000 USD more: the funding account's BTC comes in, a deposit refills it
        await liability.post("u2", 4_000_000)
        await hedger.cycle("liability", "l2")
        for minute in range(90):  # across 08:00
            await step(60, str(9_700 - 5 * minute))
        end_ms = clock.now_ms()
        await hedger.cycle("periodic", "end")
        end_equity, end_totals = equity_btc(), engine.totals()

        # the simulator's records: withdrawals to the wallet, deposits from it, funding
        withdrawals = engine.wallet.withdrawals("BTC")
        deposits = engine.wallet.deposits("BTC")
        assert withdrawals and deposits
        assert all(chain.owns(w.to_address) for w in withdrawals)
        assert {w.state for w in withdrawals} == {d.state for d in deposits} == {"2"}
        states = {r.state for r in await store.funding.recent_operations(50)}
        assert states == {OperationState.DONE}
        (settled,) = [p for p in engine.funding_payments if start_ms < p.ts_ms <= end_ms]
        assert settled.ts_ms == START_MS + 3_600_000  # 08:00

        recorded = await store.audit.pnl_inputs(start_ms, end_ms)
        assert recorded is not None
        pnl = dealer_pnl(recorded, BTC_USD_SWAP.contract_value)

        # each component from the simulator's own records
        assert pnl.funding_btc == settled.amount_btc > 0  # a short receives at +0.01 %
        assert pnl.trading_fees_btc == -(end_totals.fees_paid - start_totals.fees_paid) < 0
        deposit_fees_sats = [(await wallet.transaction(d.tx_id)).fee_sats for d in deposits]
        fees_onchain = sum(w.fee for w in withdrawals) + sum(deposit_fees_sats) * SATS
        assert pnl.onchain_fees_btc == -fees_onchain
        # the withdrawals to the own wallet are no loss: only their fees are a cost
        moved_in = sum(d.amount for d in deposits) - sum(w.amount for w in withdrawals)
        assert pnl.own_transfers_btc == moved_in
        # the total equity changed by the components' sum, to the satoshi
        assert (end_equity - start_equity).quantize(SATS) == pnl.total_btc.quantize(SATS)
        assert pnl.unexplained_btc.quantize(SATS) == 0
    finally:
        await store.close()

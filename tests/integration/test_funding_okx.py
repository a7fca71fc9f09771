"""The funding manager through the OKX adapter (ccxt) against the OKX simulator over the wire,
beside the hedger: transfers with client ids, a withdrawal with OKX's fee, an onchain deposit
from the simulated wallet matched in OKX's deposit history. Real time; the simulator confirms
deposits and withdrawals in 0.3 s and the chain finds a block every 0.1 s."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.wallet.sim import SimWallet
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.collateral import OperationState
from pegkeeper.domain.collateral_policy import StablesatsCollateralPolicy
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.collateral.manager import CollateralManager, CollateralSettings
from pegkeeper.services.collateral.operations import OperationSettings
from pegkeeper.sim.chain import SimChain
from tests.fakes import RecordingSink
from tests.okx_world import FAST_VENUE, World, hedging_world

SIM = {"deposit_confirmation_ms": 300, "withdrawal_ms": 300}
# two services polling a local server every second: a request budget to match
VENUE = replace(FAST_VENUE, burst_requests=200, burst_refill_per_second=200)


def funding_for(world: World, wallet: SimWallet) -> CollateralManager:
    store, clock = world.store, RealClock()
    return CollateralManager(
        store,
        world.venue,
        world.venue.funding,
        wallet,
        world.bus,
        clock,
        StablesatsCollateralPolicy(),
        Allocation.single("BTC-USD-SWAP"),
        Alerter(RecordingSink(), store.funding, clock, AlertSettings()),
        CollateralSettings(check_interval_seconds=1.0, operations=OperationSettings()),
    )


async def until(world: World, check: object, what: str, seconds: float = 20) -> list:
    deadline = time.monotonic() + seconds
    while True:
        operations = list(reversed(await world.store.funding.recent_operations(50)))
        if check(operations):  # type: ignore[operator]
            return operations
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {operations}")
        await asyncio.sleep(0.05)


async def test_transfers_a_withdrawal_and_a_deposit_over_the_wire(tmp_path: Path) -> None:
    async with hedging_world(tmp_path, sim_options=SIM, venue_settings=VENUE) as world:
        chain = SimChain(RealClock().now_ms(), 5 * 100_000_000, block_interval_ms=100)
        wallet = SimWallet(chain, RealClock(), world.sim.engine.wallet)
        funding = funding_for(world, wallet)
        task = asyncio.create_task(funding.run())
        ticking = asyncio.create_task(_sync_every(wallet, 0.05))
        try:
            # nothing owed yet: the 2 BTC of trading collateral go to funding (rule 3)
            (out,) = await until(world, lambda ops: _done(ops, "transfer_to_funding"), "rule 3")
            assert out.operation.amount == 2 and out.venue_id.startswith("T")
            assert world.sim.ctx.transfer_requests[out.operation.operation_id] == 1
            await world.post("u1", 1_000_000)  # 10 000 USD: 98 contracts, 1.23 BTC at 7 938
            await world.converged(-98)
            # a third of the liability came in (rule 2); what exceeds 1 BTC in funding goes
            # home (rule 7), OKX's 0.0001 BTC withdrawal fee on top
            done = await until(
                world,
                lambda ops: any(
                    o.operation.kind.value == "withdrawal" and o.state is OperationState.DONE
                    for o in ops
                ),
                "the withdrawal",
            )
            (transfer_in,) = [o for o in done if o.operation.kind.value == "transfer_to_trading"]
            (home,) = [o for o in done if o.operation.kind.value == "withdrawal"]
            third = (Decimal(1_000_000) / (7_938_39) / 3).quantize(Decimal("0.00000001"))
            assert abs(transfer_in.operation.amount - third) < Decimal("0.001")
            assert home.operation.fee == Decimal("0.0001") and home.venue_id.startswith("W")
            assert world.sim.ctx.withdrawal_requests[home.operation.operation_id] == 1
            # 3 BTC in funding, less what went to trading, less the 1 BTC kept
            assert home.operation.amount == 2 - transfer_in.operation.amount
            # users buy 40 000 USD more: the liability outgrows the collateral (rule 5); the
            # funding account's 1 BTC comes in, then a deposit refills it from the wallet
            await world.post("u2", 4_000_000)
            done = await until(
                world,
                lambda ops: any(
                    o.operation.kind.value == "deposit" and o.state is OperationState.DONE
                    for o in ops
                ),
                "the deposit",
                30,
            )
            (deposit,) = [o for o in done if o.operation.kind.value == "deposit"]
            (seen,) = world.sim.engine.wallet.deposits("BTC")
            assert (deposit.venue_id, deposit.tx_id) == (seen.deposit_id, seen.tx_id)
            assert seen.amount == deposit.operation.amount and seen.state == "2"
            assert deposit.operation.address == world.sim.engine.wallet.address("BTC")
            await world.converged(-490, seconds=30)  # 0.98 x 5 000 000 / 10 000
            assert world.sim.engine.liquidation_count == 0
        finally:
            for job in (task, ticking):
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job


async def _sync_every(wallet: SimWallet, seconds: float) -> None:
    while True:
        wallet.sync()
        await asyncio.sleep(seconds)


def _done(operations: list, kind: str) -> list:
    return [o for o in operations if o.operation.kind.value == kind and o.state.value == "done"]

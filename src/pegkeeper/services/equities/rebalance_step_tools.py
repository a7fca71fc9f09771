"""What every step of a rebalancing move shares: the objects it acts through, a transaction
step with its gas counted, the intents and lookups of broker requests, and the amounts earlier
steps received."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.equities.move_records import CostKind, IntentStatus, MoveRecord, StepIntent
from pegkeeper.domain.equities.moves import Halt, MoveStep
from pegkeeper.domain.equities.transfers import (
    CashConversion,
    TokenizationRequest,
    TxOutcome,
)
from pegkeeper.domain.errors import NotFound
from pegkeeper.ports import Clock
from pegkeeper.ports.inventory import ChainBalances, ChainSigner, InventoryBroker
from pegkeeper.ports.rebalancing import RebalanceRepository
from pegkeeper.services.equities.rebalance_bridge import BridgeSteps
from pegkeeper.services.equities.rebalance_calls import ChainCalls
from pegkeeper.services.equities.rebalance_looks import Done, Halted, StepCost, StepLook, Wait
from pegkeeper.services.equities.rebalance_tx import BuildCall, Mined, Reverted, TxSteps, Waiting

LOOKBACK_MS = 60_000  # broker lists read from this long before the move or step began
WEI_PER_ETHER = Decimal(10**18)


class StepTools:
    def __init__(
        self,
        repository: RebalanceRepository,
        broker: InventoryBroker,
        signer: ChainSigner,
        balances: ChainBalances,
        calls: ChainCalls,
        tx: TxSteps,
        clock: Clock,
        *,
        gas_token_price_usd: Decimal = Decimal(0),
        bridge: BridgeSteps | None = None,
    ) -> None:
        """`gas_token_price_usd` prices the gas of every transaction for the P&L; `bridge`:
        the two chains' steps when the broker's wallet is not on the orderbook's chain."""
        self._repository = repository
        self._broker = broker
        self._signer = signer
        self._balances = balances
        self._calls = calls
        self._tx = tx
        self._clock = clock
        self._gas_token_price_usd = gas_token_price_usd
        self._bridge = bridge

    async def _chain_step(
        self,
        move: MoveRecord,
        step: MoveStep,
        build: BuildCall,
        busy: bool,
        received_token: str | None,
        asked_units: int,
        tx: TxSteps | None = None,
    ) -> StepLook:
        """A transaction step; what it got: `received_token`'s units that reached the signer
        (None: the amount asked, as for a transfer out)."""
        tx = tx or self._tx
        progress = await tx.run(move, step, build, busy=busy)
        if isinstance(progress, Waiting):
            return Wait(progress.why)
        if isinstance(progress, Reverted):
            return self._reverted(progress)
        assert isinstance(progress, Mined)
        units = asked_units
        if received_token is not None:
            units = progress.outcome.received(received_token, tx.address)
        return Done(
            self._calls.amount_of(received_token, move, units),
            tx_hash=progress.outcome.tx_hash,
            costs=self._gas(progress.outcome),
        )

    def _reverted(self, reverted: Reverted) -> Halted:
        """The move stops named; a mined revert's gas is spent all the same."""
        costs = self._gas(reverted.outcome) if reverted.outcome is not None else ()
        return Halted(Halt.TX_REVERTED, reverted.why, costs)

    def _gas(self, outcome: TxOutcome) -> tuple[StepCost, ...]:
        """The transaction's gas in USD at the configured price of the chain's token."""
        if outcome.fee_wei <= 0:
            return ()
        usd = Decimal(outcome.fee_wei) / WEI_PER_ETHER * self._gas_token_price_usd
        return (StepCost(CostKind.GAS, usd, f"{outcome.fee_wei} wei, {outcome.tx_hash}"),)

    async def _mined_block(self, intent: StepIntent) -> int:
        outcome: TxOutcome = await self._signer.receipt(intent.tx_hash, 1)
        return outcome.block_number or 0

    async def _intend(
        self, move: MoveRecord, step: MoveStep, request_id: str, asked: Decimal
    ) -> StepIntent:
        now_ms = self._clock.now_ms()
        return await self._repository.record_intent(
            move.move_id, step, now_ms, request_id=request_id, amount_asked=asked
        )

    async def _mark_sent(self, move: MoveRecord, step: MoveStep) -> None:
        now_ms = self._clock.now_ms()
        await self._repository.record_step_result(move.move_id, step, IntentStatus.SENT, now_ms)

    async def _learn_request(self, move: MoveRecord, step: MoveStep, request_id: str) -> None:
        intent = move.intent(step)
        if intent is not None and intent.request_id != request_id:
            now_ms = self._clock.now_ms()
            await self._repository.record_step_result(
                move.move_id, step, IntentStatus.SENT, now_ms, request_id=request_id
            )

    async def _by_issuer_id(self, issuer_id: str) -> TokenizationRequest | None:
        try:
            return await self._broker.tokenization_request_by_issuer_id(issuer_id)
        except NotFound:
            return None

    async def _conversion(self, client_id: str) -> CashConversion | None:
        try:
            return await self._broker.conversion(client_id)
        except NotFound:
            return None


def _received(move: MoveRecord, step: MoveStep) -> Decimal:
    intent = move.intent(step)
    if intent is None or intent.amount_received is None:
        raise AssertionError(f"move {move.move_id}: {step.value} has no amount received")
    return intent.amount_received

"""The bridge's two steps of a cash move whose chains differ (Circle CCTP v2): the burn on the
source chain, then the mint on the destination with the attestation of that burn.

The burn is a transaction step like any other (stored before it is sent, never signed twice).
The mint waits for the attestation; before it signs the mint, it asks the destination whether
the message's nonce was received already (anyone may relay a CCTP message), and a mint sent
twice reverts there: USDC is never minted twice. What the burn sent and the mint did not
deliver is the bridge's fee (a fast transfer's), a cost of the move like its gas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.equities.move_records import CostKind, MoveRecord, StepIntent
from pegkeeper.domain.equities.moves import Halt, MoveStep
from pegkeeper.domain.equities.transfers import BridgeBurn, BridgeMessage, ContractCall, TxOutcome
from pegkeeper.domain.errors import ChainError
from pegkeeper.domain.units import usdc_units_to_usdc
from pegkeeper.ports.inventory import Attestations, ChainBalances, ChainSigner, ContractCalls
from pegkeeper.services.equities.rebalance_looks import Done, Halted, StepCost, StepLook, Wait
from pegkeeper.services.equities.rebalance_tx import Mined, Reverted, TxSteps, Waiting


@dataclass(frozen=True, slots=True)
class ChainSide:
    """One chain as the rebalancer acts on it: its signer (the same key), its transaction
    steps, its reads, its USDC and its bridge contracts."""

    signer: ChainSigner
    tx: TxSteps
    balances: ChainBalances
    usdc: str
    token_messenger: str
    message_transmitter: str
    domain: int


@dataclass(frozen=True, slots=True)
class BridgeRoute:
    home: ChainSide  # the broker wallet's chain
    orderbook: ChainSide  # the orderbook's chain
    max_fee_units: int = 0
    min_finality_threshold: int = 2000

    def source_of(self, move: MoveRecord) -> ChainSide:
        """Cash to the chain burns at home; cash home burns on the orderbook's chain."""
        return self.home if move.kind.value == "cash_to_chain" else self.orderbook

    def destination_of(self, move: MoveRecord) -> ChainSide:
        return self.orderbook if move.kind.value == "cash_to_chain" else self.home


GasPricer = Callable[[TxOutcome], tuple[StepCost, ...]]  # a mined transaction's gas in USD


class BridgeSteps:
    def __init__(self, route: BridgeRoute, calls: ContractCalls, attestations: Attestations):
        self.route = route
        self._calls = calls
        self._attestations = attestations

    async def burn(self, move: MoveRecord, units: int, busy: bool, gas: GasPricer) -> StepLook:
        source, destination = self.route.source_of(move), self.route.destination_of(move)
        burn = BridgeBurn(
            token_messenger=source.token_messenger,
            amount_units=units,
            destination_domain=destination.domain,
            recipient=destination.signer.address,
            burn_token=source.usdc,
            max_fee_units=self.route.max_fee_units,
            min_finality_threshold=self.route.min_finality_threshold,
        )

        async def build() -> ContractCall:
            return self._calls.burn(burn)

        progress = await source.tx.run(move, MoveStep.BURNED, build, busy=busy)
        if isinstance(progress, Mined):
            outcome = progress.outcome
            return Done(usdc_units_to_usdc(units), tx_hash=outcome.tx_hash, costs=gas(outcome))
        return _not_mined(progress, gas)

    async def mint(self, move: MoveRecord, busy: bool, gas: GasPricer) -> StepLook:
        source, destination = self.route.source_of(move), self.route.destination_of(move)
        burned = move.intent(MoveStep.BURNED)
        assert burned is not None
        message = await self._attested(source, burned.tx_hash)
        if message is None and move.intent(MoveStep.BRIDGED) is None:
            return Wait(f"the attestation of burn {burned.tx_hash} has not arrived")

        async def build() -> ContractCall:
            if message is None:  # a fee bump of the mint needs the message again
                raise ChainError(
                    f"the attestation of burn {burned.tx_hash} is not available to sign the "
                    "mint again with a higher fee"
                )
            return self._calls.receive(destination.message_transmitter, message)

        if move.intent(MoveStep.BRIDGED) is None and message is not None:
            nonce = self._calls.message_nonce(message)
            block = await destination.balances.pin()
            used = await destination.balances.bridge_nonce_used(
                destination.message_transmitter, nonce, block
            )
            if used:
                why = (
                    f"the message of burn {burned.tx_hash} was received on the destination by "
                    "another relayer: find its mint there and move the USDC on by hand"
                )
                return Halted(Halt.ATTESTATION_MISSING, why)
        progress = await destination.tx.run(move, MoveStep.BRIDGED, build, busy=busy)
        if isinstance(progress, Mined):
            outcome = progress.outcome
            received = usdc_units_to_usdc(
                outcome.received(destination.usdc, destination.signer.address)
            )
            detail = message.attestation.hex() if message is not None else None
            return Done(
                received,
                tx_hash=outcome.tx_hash,
                detail=detail,
                costs=gas(outcome) + _bridge_fee(burned, received),
            )
        return _not_mined(progress, gas)

    async def _attested(self, source: ChainSide, burn_hash: str) -> BridgeMessage | None:
        messages = await self._attestations.messages(source.domain, burn_hash)
        return next((m for m in messages if m.complete), None)


def _bridge_fee(burned: StepIntent, minted: Decimal) -> tuple[StepCost, ...]:
    """The USDC the burn sent less what the mint delivered (USDC counted as USD)."""
    sent = burned.amount_received
    if sent is None or sent <= minted:
        return ()
    return (StepCost(CostKind.FEE, sent - minted, f"bridge fee of burn {burned.tx_hash}"),)


def _not_mined(progress: Waiting | Reverted | Mined, gas: GasPricer) -> StepLook:
    if isinstance(progress, Reverted):
        costs = gas(progress.outcome) if progress.outcome is not None else ()
        return Halted(Halt.TX_REVERTED, progress.why, costs)
    assert isinstance(progress, Waiting)
    return Wait(progress.why)

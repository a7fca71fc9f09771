"""The steps of the cash moves: USD at the broker to USDC in the vault and back (specs/
equities.md, "Rebalancing"), across the bridge when the broker's wallet is on another chain.

A USDC withdrawal carries no id at the broker: it is marked sent before its request, and a sent
one the broker does not list stops the move for an operator instead of being asked for twice.
A conversion's client order id is refused a second time by the broker, so after a crash it is
looked up by that id and sent again only when the broker does not know it.
"""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.equities.move_records import CostKind, IntentStatus, MoveRecord, StepIntent
from pegkeeper.domain.equities.moves import Halt, MoveStep
from pegkeeper.domain.equities.transfers import (
    CashConversion,
    ContractCall,
    ConversionState,
    TxStatus,
    WalletDirection,
    WalletTransfer,
    WalletTransferStatus,
)
from pegkeeper.domain.errors import OrderRejected, VenueError
from pegkeeper.domain.orders import OrderSide
from pegkeeper.domain.units import usdc_units_floor, usdc_units_to_usdc
from pegkeeper.ports.inventory import ChainSigner
from pegkeeper.services.equities.rebalance_looks import Done, Halted, StepCost, StepLook, Wait
from pegkeeper.services.equities.rebalance_step_tools import LOOKBACK_MS, StepTools, _received
from pegkeeper.services.equities.rebalance_tx import outside_request


class CashSteps(StepTools):
    async def _convert(self, move: MoveRecord, busy: bool) -> StepLook:
        client_id = f"cv-{move.move_id}"
        to_chain = move.kind.value == "cash_to_chain"
        asked = move.amount if to_chain else _received(move, MoveStep.RECEIVED)
        intent = move.intent(MoveStep.CONVERTED)
        conversion: CashConversion | None = None
        if intent is None:
            await self._intend(move, MoveStep.CONVERTED, client_id, asked)
        else:
            conversion = await self._conversion(client_id)
        if conversion is None:
            try:
                conversion = await outside_request(
                    lambda: self._send_conversion(client_id, to_chain, asked)
                )
            except OrderRejected as refused:
                return Halted(Halt.CONVERSION_FAILED, str(refused))
            except VenueError as error:
                return Wait(f"conversion {client_id}: {error}; looked up before anything else")
        return _converted(conversion, to_chain)

    async def _send_conversion(
        self, client_id: str, to_chain: bool, asked: Decimal
    ) -> CashConversion:
        if to_chain:
            return await self._broker.convert(client_id, OrderSide.BUY, notional_usd=asked)
        return await self._broker.convert(client_id, OrderSide.SELL, qty_usdc=asked)

    async def _withdraw_usdc(self, move: MoveRecord, busy: bool) -> StepLook:
        amount = usdc_units_to_usdc(usdc_units_floor(_received(move, MoveStep.CONVERTED)))
        address = self._signer.address
        intent = move.intent(MoveStep.WITHDRAWN)
        if intent is None:
            intent = await self._intend(move, MoveStep.WITHDRAWN, f"wd-{move.move_id}", amount)
        transfer = await self._withdrawal_of(intent, amount, address)
        if transfer is None:
            if intent.status is IntentStatus.SENT:
                return Halted(
                    Halt.WALLET_TRANSFER_PENDING,
                    f"the withdrawal of {amount} USDC to {address} may have been asked and the "
                    "broker does not list it",
                )
            await self._mark_sent(move, MoveStep.WITHDRAWN)
            try:
                transfer = await outside_request(
                    lambda: self._broker.withdraw_usdc(amount, address)
                )
            except OrderRejected as refused:
                return Halted(Halt.WALLET_TRANSFER_FAILED, str(refused))
            except VenueError as error:
                return Wait(f"USDC withdrawal: {error}; looked up before anything else")
        return await self._withdrawn(move, transfer)

    async def _withdrawn(self, move: MoveRecord, transfer: WalletTransfer) -> StepLook:
        if transfer.status is WalletTransferStatus.FAILED:
            why = f"wallet transfer {transfer.transfer_id} FAILED"
            return Halted(Halt.WALLET_TRANSFER_FAILED, why)
        if transfer.status is not WalletTransferStatus.COMPLETE or not transfer.tx_hash:
            await self._learn_request(move, MoveStep.WITHDRAWN, transfer.transfer_id)
            return Wait(f"wallet transfer {transfer.transfer_id} is {transfer.status.value}")
        signer, usdc = self._wallet_chain()
        outcome = await signer.receipt(transfer.tx_hash, self._tx.settings.confirmations)
        if outcome.status is not TxStatus.SUCCEEDED:
            return Wait(
                f"the withdrawal's transaction {transfer.tx_hash} is {outcome.status.value}"
            )
        units = outcome.received(usdc, signer.address)
        fees: tuple[StepCost, ...] = ()
        if transfer.fees > 0:  # USDC, counted as USD
            what = f"wallet transfer {transfer.transfer_id}"
            fees = (StepCost(CostKind.FEE, transfer.fees, what),)
        return Done(
            usdc_units_to_usdc(units),
            request_id=transfer.transfer_id,
            tx_hash=transfer.tx_hash,
            costs=fees,
        )

    def _wallet_chain(self) -> tuple[ChainSigner, str]:
        """The signer and USDC of the chain the broker's wallet sends to and takes from."""
        if self._bridge is None:
            return self._signer, self._calls.usdc
        home = self._bridge.route.home
        return home.signer, home.usdc

    async def _withdrawal_of(
        self, intent: StepIntent, amount: Decimal, address: str
    ) -> WalletTransfer | None:
        since_ms = intent.created_at_ms - LOOKBACK_MS
        for transfer in await self._broker.wallet_transfers(since_ms):
            if transfer.direction is not WalletDirection.OUTGOING:
                continue
            if intent.request_id and transfer.transfer_id == intent.request_id:
                return transfer
            if transfer.amount == amount and transfer.address == address.lower():
                return transfer
        return None

    async def _deposit_usdc(self, move: MoveRecord, busy: bool) -> StepLook:
        arrived = MoveStep.BRIDGED if move.route.bridged else MoveStep.WITHDRAWN
        units = usdc_units_floor(_received(move, arrived))

        async def build() -> ContractCall:
            return self._calls.deposit(self._calls.usdc, self._calls.usdc_vault_id, units)

        return await self._chain_step(move, MoveStep.DEPOSITED, build, busy, None, units)

    async def _withdraw_usdc_from_vault(self, move: MoveRecord, busy: bool) -> StepLook:
        units = usdc_units_floor(move.amount)

        async def build() -> ContractCall:
            return self._calls.withdraw(self._calls.usdc, self._calls.usdc_vault_id, units)

        step = MoveStep.WITHDRAWN_FROM_VAULT
        return await self._chain_step(move, step, build, busy, self._calls.usdc, units)

    async def _send_usdc_home(self, move: MoveRecord, busy: bool) -> StepLook:
        left = MoveStep.BRIDGED if move.route.bridged else MoveStep.WITHDRAWN_FROM_VAULT
        units = usdc_units_floor(_received(move, left))
        address = await self._broker.deposit_address("USDC")
        _, usdc = self._wallet_chain()
        tx = self._bridge.route.home.tx if self._bridge is not None else self._tx

        async def build() -> ContractCall:
            return self._calls.transfer(usdc, address, units)

        step = MoveStep.SENT_TO_BROKER
        return await self._chain_step(move, step, build, busy, None, units, tx=tx)

    async def _burn(self, move: MoveRecord, busy: bool) -> StepLook:
        if self._bridge is None:
            return Halted(Halt.TX_REVERTED, "the move crosses the bridge and none is configured")
        left = (
            MoveStep.WITHDRAWN
            if move.kind.value == "cash_to_chain"
            else (MoveStep.WITHDRAWN_FROM_VAULT)
        )
        units = usdc_units_floor(_received(move, left))
        return await self._bridge.burn(move, units, busy, self._gas)

    async def _bridged(self, move: MoveRecord, busy: bool) -> StepLook:
        if self._bridge is None:
            return Halted(Halt.TX_REVERTED, "the move crosses the bridge and none is configured")
        return await self._bridge.mint(move, busy, self._gas)

    async def _usdc_received(self, move: MoveRecord, busy: bool) -> StepLook:
        sent = move.intent(MoveStep.SENT_TO_BROKER)
        assert sent is not None
        for transfer in await self._broker.wallet_transfers(move.created_at_ms - LOOKBACK_MS):
            incoming = transfer.direction is WalletDirection.INCOMING
            if incoming and transfer.tx_hash == sent.tx_hash:
                if transfer.status is WalletTransferStatus.COMPLETE:
                    return Done(transfer.amount, request_id=transfer.transfer_id)
                return Wait(f"incoming transfer {transfer.transfer_id} is {transfer.status.value}")
        return Wait("the broker has not seen the USDC arrive yet")

    async def _cash_checked(self, move: MoveRecord, busy: bool) -> StepLook:
        return Done(detail="the USD is in the broker's cash")


def _converted(conversion: CashConversion, to_chain: bool) -> StepLook:
    if conversion.state is ConversionState.FAILED:
        why = f"conversion {conversion.client_order_id} failed: {conversion.message}"
        return Halted(Halt.CONVERSION_FAILED, why)
    if conversion.state is ConversionState.WORKING:
        return Wait(f"conversion {conversion.client_order_id} working")
    client_id = conversion.client_order_id
    if to_chain:  # USDC to move onchain, floored to its 6 decimals
        usdc = usdc_units_to_usdc(usdc_units_floor(conversion.filled_qty_usdc))
        spread = conversion.filled_notional_usd - conversion.filled_qty_usdc
        return Done(usdc, request_id=client_id, costs=_spread(spread, client_id))
    spread = conversion.filled_qty_usdc - conversion.filled_notional_usd
    usd = conversion.filled_notional_usd
    return Done(usd, request_id=client_id, costs=_spread(spread, client_id))


def _spread(usd: Decimal, client_order_id: str) -> tuple[StepCost, ...]:
    """What the conversion lost against USDC at par (a gain is not a cost)."""
    if usd <= 0:
        return ()
    return (StepCost(CostKind.CONVERSION, usd, f"USDCUSD order {client_order_id}"),)

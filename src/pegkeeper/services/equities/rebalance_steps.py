"""The steps of each rebalancing move (specs/equities.md, "Rebalancing"; the order is the
domain's `MovePlan`): what each does at the broker or on the chain, looked at again until it is
done. A step's look returns Done (with what the step actually got), Wait, or Halt.

Broker requests carry pegkeeper's id where the broker takes one (a mint's issuer_request_id, a
conversion's client_order_id): a duplicate is refused there, so after a crash the request is
looked up by that id and sent again only when the broker does not know it. A USDC withdrawal
carries no id: it is marked sent before its request, and a sent one the broker does not list
stops the move for an operator instead of being asked for twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.equities.move_records import IntentStatus, MoveRecord, StepIntent
from pegkeeper.domain.equities.moves import Halt, MoveStep
from pegkeeper.domain.equities.transfers import (
    CashConversion,
    ContractCall,
    ConversionState,
    TokenizationKind,
    TokenizationRequest,
    TokenizationStatus,
    TxOutcome,
    TxStatus,
    WalletDirection,
    WalletTransfer,
    WalletTransferStatus,
)
from pegkeeper.domain.errors import NotFound, OrderRejected, VenueError
from pegkeeper.domain.leases import check_still_acting
from pegkeeper.domain.orders import OrderSide
from pegkeeper.domain.units import (
    stock_units_to_shares,
    stock_units_truncated,
    usdc_units_floor,
    usdc_units_to_usdc,
)
from pegkeeper.ports import Clock
from pegkeeper.ports.inventory import ChainBalances, ChainSigner, InventoryBroker
from pegkeeper.ports.rebalancing import RebalanceRepository
from pegkeeper.services.equities.rebalance_calls import ChainCalls
from pegkeeper.services.equities.rebalance_tx import BuildCall, Mined, Reverted, TxSteps, Waiting

LOOKBACK_MS = 60_000  # broker lists read from this long before the move or step began


@dataclass(frozen=True, slots=True)
class Done:
    amount_received: Decimal | None = None
    request_id: str | None = None
    tx_hash: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    why: str


@dataclass(frozen=True, slots=True)
class Halted:
    halt: Halt
    why: str


StepLook = Done | Wait | Halted
Step = Callable[[MoveRecord, bool], Awaitable[StepLook]]


class MoveSteps:
    """One look at the next step of a move; `busy` says another transaction of the signer is
    in flight (a new one is not signed then)."""

    def __init__(
        self,
        repository: RebalanceRepository,
        broker: InventoryBroker,
        signer: ChainSigner,
        balances: ChainBalances,
        calls: ChainCalls,
        tx: TxSteps,
        clock: Clock,
    ) -> None:
        self._repository = repository
        self._broker = broker
        self._signer = signer
        self._balances = balances
        self._calls = calls
        self._tx = tx
        self._clock = clock
        self._steps: Mapping[tuple[str, MoveStep], Step] = self._table()

    async def look(self, move: MoveRecord, step: MoveStep, busy: bool) -> StepLook:
        return await self._steps[(move.kind.value, step)](move, busy)

    def _table(self) -> dict[tuple[str, MoveStep], Step]:
        s = MoveStep
        return {
            ("mint", s.REQUESTED): self._mint_requested,
            ("mint", s.ACCEPTED): self._mint_accepted,
            ("mint", s.TOKENS_RECEIVED): self._mint_tokens_received,
            ("mint", s.WRAPPED): self._wrap,
            ("mint", s.DEPOSITED): self._deposit_stock,
            ("mint", s.COMPLETED): self._vault_checked,
            ("redeem", s.WITHDRAWN_FROM_VAULT): self._withdraw_stock,
            ("redeem", s.UNWRAPPED): self._unwrap,
            ("redeem", s.SENT_TO_REDEMPTION): self._send_to_redemption,
            ("redeem", s.MATCHED): self._redeem_matched,
            ("redeem", s.COMPLETED): self._redeem_completed,
            ("cash_to_chain", s.CONVERTED): self._convert,
            ("cash_to_chain", s.WITHDRAWN): self._withdraw_usdc,
            ("cash_to_chain", s.DEPOSITED): self._deposit_usdc,
            ("cash_to_chain", s.COMPLETED): self._vault_checked,
            ("cash_home", s.WITHDRAWN_FROM_VAULT): self._withdraw_usdc_from_vault,
            ("cash_home", s.SENT_TO_BROKER): self._send_usdc_home,
            ("cash_home", s.RECEIVED): self._usdc_received,
            ("cash_home", s.CONVERTED): self._convert,
            ("cash_home", s.COMPLETED): self._cash_checked,
        }

    # mint

    async def _mint_requested(self, move: MoveRecord, busy: bool) -> StepLook:
        issuer_id = f"mint-{move.move_id}"
        intent = move.intent(MoveStep.REQUESTED)
        if intent is None:
            await self._intend(move, MoveStep.REQUESTED, issuer_id, move.amount)
        else:
            known = await self._by_issuer_id(issuer_id)
            if known is not None:
                return _requested(known)
        try:
            check_still_acting()
            request = await self._broker.request_mint(
                move.asset, move.amount, self._signer.address, issuer_id
            )
        except OrderRejected as refused:
            return Halted(Halt.MINT_REJECTED, str(refused))
        except VenueError as error:
            return Wait(f"mint request {issuer_id}: {error}; looked up before anything else")
        return _requested(request)

    async def _mint_accepted(self, move: MoveRecord, busy: bool) -> StepLook:
        request = await self._by_issuer_id(f"mint-{move.move_id}")
        if request is None:
            return Wait("the broker does not list the mint request yet")
        if request.status is TokenizationStatus.REJECTED:
            return Halted(Halt.MINT_REJECTED, f"mint request {request.request_id} rejected")
        return Done(request_id=request.request_id)

    async def _mint_tokens_received(self, move: MoveRecord, busy: bool) -> StepLook:
        request = await self._by_issuer_id(f"mint-{move.move_id}")
        if request is None or request.status is TokenizationStatus.PENDING:
            return Wait("the mint request is not completed yet")
        if request.status is TokenizationStatus.REJECTED:
            return Halted(Halt.MINT_REJECTED, f"mint request {request.request_id} rejected")
        if not request.tx_hash:
            return Wait("the mint request is completed without its transaction hash yet")
        outcome = await self._signer.receipt(request.tx_hash, self._tx.settings.confirmations)
        if outcome.status is not TxStatus.SUCCEEDED:
            return Wait(f"the mint transaction {request.tx_hash} is {outcome.status.value}")
        token = self._calls.stock(move.asset).token
        units = outcome.received(token, self._signer.address)
        if units <= 0:
            return Wait(f"the mint transaction {request.tx_hash} sent no {move.asset} to us")
        return Done(stock_units_to_shares(units), tx_hash=request.tx_hash)

    async def _wrap(self, move: MoveRecord, busy: bool) -> StepLook:
        units = stock_units_truncated(_received(move, MoveStep.TOKENS_RECEIVED))
        stock = self._calls.stock(move.asset)

        async def build() -> ContractCall:
            return self._calls.wrap(stock, units)

        return await self._chain_step(move, MoveStep.WRAPPED, build, busy, stock.wrapper, units)

    async def _deposit_stock(self, move: MoveRecord, busy: bool) -> StepLook:
        stock = self._calls.stock(move.asset)
        before = MoveStep.WRAPPED if stock.wrapper else MoveStep.TOKENS_RECEIVED
        units = stock_units_truncated(_received(move, before))

        async def build() -> ContractCall:
            return self._calls.deposit(stock.vault_token, stock.vault_id, units)

        return await self._chain_step(move, MoveStep.DEPOSITED, build, busy, None, units)

    async def _vault_checked(self, move: MoveRecord, busy: bool) -> StepLook:
        deposit = move.intent(MoveStep.DEPOSITED)
        assert deposit is not None
        await self._balances.pin(await self._mined_block(deposit))
        return Done(detail="the vault's balance includes the deposit")

    # redeem

    async def _withdraw_stock(self, move: MoveRecord, busy: bool) -> StepLook:
        stock = self._calls.stock(move.asset)
        units = await self._calls.vault_units_for_shares(stock, move.amount)

        async def build() -> ContractCall:
            return self._calls.withdraw(stock.vault_token, stock.vault_id, units)

        step = MoveStep.WITHDRAWN_FROM_VAULT
        return await self._chain_step(move, step, build, busy, stock.vault_token, units)

    async def _unwrap(self, move: MoveRecord, busy: bool) -> StepLook:
        stock = self._calls.stock(move.asset)
        units = stock_units_truncated(_received(move, MoveStep.WITHDRAWN_FROM_VAULT))

        async def build() -> ContractCall:
            return self._calls.unwrap(stock, units)

        return await self._chain_step(move, MoveStep.UNWRAPPED, build, busy, stock.token, units)

    async def _send_to_redemption(self, move: MoveRecord, busy: bool) -> StepLook:
        stock = self._calls.stock(move.asset)
        before = MoveStep.UNWRAPPED if stock.wrapper else MoveStep.WITHDRAWN_FROM_VAULT
        units = stock_units_truncated(_received(move, before))

        async def build() -> ContractCall:
            return self._calls.to_redemption(stock, units)

        step = MoveStep.SENT_TO_REDEMPTION
        return await self._chain_step(move, step, build, busy, None, units)

    async def _redeem_matched(self, move: MoveRecord, busy: bool) -> StepLook:
        request = await self._redeem_request(move)
        if request is None:
            return Wait("no redeem request carries the transfer's hash yet")
        if request.status is TokenizationStatus.REJECTED:
            return Halted(Halt.REDEEM_REJECTED, f"redeem request {request.request_id} rejected")
        return Done(request_id=request.request_id, amount_received=request.qty)

    async def _redeem_completed(self, move: MoveRecord, busy: bool) -> StepLook:
        request = await self._redeem_request(move)
        if request is None or request.status is TokenizationStatus.PENDING:
            return Wait("the redeem request is not completed yet")
        if request.status is TokenizationStatus.REJECTED:
            return Halted(Halt.REDEEM_REJECTED, f"redeem request {request.request_id} rejected")
        return Done(request_id=request.request_id, amount_received=request.qty)

    async def _redeem_request(self, move: MoveRecord) -> TokenizationRequest | None:
        sent = move.intent(MoveStep.SENT_TO_REDEMPTION)
        assert sent is not None
        since_ms = move.created_at_ms - LOOKBACK_MS
        requests = await self._broker.tokenization_requests(TokenizationKind.REDEEM, since_ms)
        return next((r for r in requests if r.tx_hash == sent.tx_hash), None)

    # cash

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
                check_still_acting()
                conversion = await self._send_conversion(client_id, to_chain, asked)
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
                check_still_acting()
                transfer = await self._broker.withdraw_usdc(amount, address)
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
        outcome = await self._signer.receipt(transfer.tx_hash, self._tx.settings.confirmations)
        if outcome.status is not TxStatus.SUCCEEDED:
            return Wait(
                f"the withdrawal's transaction {transfer.tx_hash} is {outcome.status.value}"
            )
        units = outcome.received(self._calls.usdc, self._signer.address)
        return Done(
            usdc_units_to_usdc(units), request_id=transfer.transfer_id, tx_hash=transfer.tx_hash
        )

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
        units = usdc_units_floor(_received(move, MoveStep.WITHDRAWN))

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
        units = usdc_units_floor(_received(move, MoveStep.WITHDRAWN_FROM_VAULT))
        address = await self._broker.deposit_address("USDC")

        async def build() -> ContractCall:
            return self._calls.transfer_usdc(address, units)

        return await self._chain_step(move, MoveStep.SENT_TO_BROKER, build, busy, None, units)

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

    # shared

    async def _chain_step(
        self,
        move: MoveRecord,
        step: MoveStep,
        build: BuildCall,
        busy: bool,
        received_token: str | None,
        asked_units: int,
    ) -> StepLook:
        """A transaction step; what it got: `received_token`'s units that reached the signer
        (None: the amount asked, as for a transfer out)."""
        progress = await self._tx.run(move, step, build, busy=busy)
        if isinstance(progress, Waiting):
            return Wait(progress.why)
        if isinstance(progress, Reverted):
            return Halted(Halt.TX_REVERTED, progress.why)
        assert isinstance(progress, Mined)
        units = asked_units
        if received_token is not None:
            units = progress.outcome.received(received_token, self._signer.address)
        return Done(
            self._calls.amount_of(received_token, move, units), tx_hash=progress.outcome.tx_hash
        )

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


def _requested(request: TokenizationRequest) -> StepLook:
    if request.status is TokenizationStatus.REJECTED:
        return Halted(Halt.MINT_REJECTED, f"mint request {request.request_id} rejected")
    return Done(detail=f"tokenization request {request.request_id}")


def _converted(conversion: CashConversion, to_chain: bool) -> StepLook:
    if conversion.state is ConversionState.FAILED:
        why = f"conversion {conversion.client_order_id} failed: {conversion.message}"
        return Halted(Halt.CONVERSION_FAILED, why)
    if conversion.state is ConversionState.WORKING:
        return Wait(f"conversion {conversion.client_order_id} working")
    if to_chain:  # USDC to move onchain, floored to its 6 decimals
        usdc = usdc_units_to_usdc(usdc_units_floor(conversion.filled_qty_usdc))
        return Done(usdc, request_id=conversion.client_order_id)
    return Done(conversion.filled_notional_usd, request_id=conversion.client_order_id)


def _received(move: MoveRecord, step: MoveStep) -> Decimal:
    intent = move.intent(step)
    if intent is None or intent.amount_received is None:
        raise AssertionError(f"move {move.move_id}: {step.value} has no amount received")
    return intent.amount_received

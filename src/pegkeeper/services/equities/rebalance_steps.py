"""The steps of each rebalancing move (specs/equities.md, "Rebalancing"; the order is the
domain's `MovePlan`): what each does at the broker or on the chain, looked at again until it is
done. A step's look returns Done (with what the step actually got), Wait, or Halt.

Broker requests carry pegkeeper's id where the broker takes one (a mint's issuer_request_id, a
conversion's client_order_id): a duplicate is refused there, so after a crash the request is
looked up by that id and sent again only when the broker does not know it. The cash moves'
steps are in rebalance_cash, what all steps share in rebalance_step_tools.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cached_property

from pegkeeper.domain.equities.move_records import CostKind, MoveRecord
from pegkeeper.domain.equities.moves import Halt, MoveStep
from pegkeeper.domain.equities.transfers import (
    ContractCall,
    TokenizationKind,
    TokenizationRequest,
    TokenizationStatus,
    TxStatus,
)
from pegkeeper.domain.errors import OrderRejected, VenueError
from pegkeeper.domain.units import (
    stock_units_to_shares,
    stock_units_truncated,
)
from pegkeeper.services.equities.rebalance_cash import CashSteps
from pegkeeper.services.equities.rebalance_looks import Done, Halted, StepCost, StepLook, Wait
from pegkeeper.services.equities.rebalance_step_tools import LOOKBACK_MS, StepTools, _received
from pegkeeper.services.equities.rebalance_tx import outside_request

Step = Callable[[MoveRecord, bool], Awaitable[StepLook]]


class StockSteps(StepTools):
    """Mint and redeem."""

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
            request = await outside_request(
                lambda: self._broker.request_mint(
                    move.asset, move.amount, self._signer.address, issuer_id
                )
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
        return Done(stock_units_to_shares(units), tx_hash=request.tx_hash, costs=_fee(request))

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
        return Done(request_id=request.request_id, amount_received=request.qty, costs=_fee(request))

    async def _redeem_request(self, move: MoveRecord) -> TokenizationRequest | None:
        sent = move.intent(MoveStep.SENT_TO_REDEMPTION)
        assert sent is not None
        since_ms = move.created_at_ms - LOOKBACK_MS
        requests = await self._broker.tokenization_requests(TokenizationKind.REDEEM, since_ms)
        return next((r for r in requests if r.tx_hash == sent.tx_hash), None)


class MoveSteps(StockSteps, CashSteps):
    """One look at the next step of a move; `busy` says another transaction of the signer is
    in flight (a new one is not signed then)."""

    async def look(self, move: MoveRecord, step: MoveStep, busy: bool) -> StepLook:
        return await self._steps[(move.kind.value, step)](move, busy)

    @cached_property
    def _steps(self) -> dict[tuple[str, MoveStep], Step]:
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
            ("cash_to_chain", s.BURNED): self._burn,
            ("cash_to_chain", s.BRIDGED): self._bridged,
            ("cash_to_chain", s.DEPOSITED): self._deposit_usdc,
            ("cash_to_chain", s.COMPLETED): self._vault_checked,
            ("cash_home", s.WITHDRAWN_FROM_VAULT): self._withdraw_usdc_from_vault,
            ("cash_home", s.BURNED): self._burn,
            ("cash_home", s.BRIDGED): self._bridged,
            ("cash_home", s.SENT_TO_BROKER): self._send_usdc_home,
            ("cash_home", s.RECEIVED): self._usdc_received,
            ("cash_home", s.CONVERTED): self._convert,
            ("cash_home", s.COMPLETED): self._cash_checked,
        }


def _requested(request: TokenizationRequest) -> StepLook:
    if request.status is TokenizationStatus.REJECTED:
        return Halted(Halt.MINT_REJECTED, f"mint request {request.request_id} rejected")
    return Done(detail=f"tokenization request {request.request_id}")


def _fee(request: TokenizationRequest) -> tuple[StepCost, ...]:
    if request.fees_usd <= 0:
        return ()
    what = f"{request.kind.value} request {request.request_id}"
    return (StepCost(CostKind.FEE, request.fees_usd, what),)

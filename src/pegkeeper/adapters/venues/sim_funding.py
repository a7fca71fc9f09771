"""The FundingVenue and FundingRates ports over the in-process simulated exchange engine:
transfers between its funding and trading accounts, its deposit address and history, onchain
withdrawals, the swap funding its trading account settled, and its perpetuals' funding rates.

The engine keeps OKX's deposit and withdrawal state codes (its wire server answers in them);
they are read as the OKX adapter reads them."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.venues import okx_parse
from pegkeeper.domain.errors import InvalidInput, OrderRejected
from pegkeeper.domain.venue import (
    DepositRecord,
    FundingPayment,
    FundingRate,
    MovementState,
    SettledFundingRate,
    TransferReport,
    WithdrawalReport,
)
from pegkeeper.ports import Clock
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.events import TransferResult
from pegkeeper.sim.settlement import FUNDING_INTERVAL_MS
from pegkeeper.sim.wallet import CHAINS, MIN_WITHDRAWAL_FEE, Withdrawal


class SimFunding:
    def __init__(self, engine: SimEngine, clock: Clock) -> None:
        self.engine = engine
        self._clock = clock

    async def transfer(
        self, client_id: str, currency: str, amount: Decimal, from_account: str, to_account: str
    ) -> TransferReport:
        try:
            done = self.engine.transfer(
                client_id, amount, from_account, to_account, self._clock.now_ms(), currency
            )
        except InvalidInput as error:
            raise OrderRejected(str(error), code="51000") from None
        return _transfer(done)

    async def transfer_state(self, client_id: str) -> TransferReport:
        return _transfer(self.engine.transfer_by_client_id(client_id))

    async def deposit_address(self, currency: str) -> str:
        return self.engine.wallet.address(currency)

    async def deposits(self, currency: str) -> list[DepositRecord]:
        self.engine.advance(self._clock.now_ms())
        found = [
            DepositRecord(
                deposit_id=d.deposit_id,
                currency=d.currency,
                chain=d.chain,
                amount=d.amount,
                address=d.address,
                tx_id=d.tx_id,
                state=okx_parse.deposit_state(d.state),
                venue_state=d.state,
                ts_ms=d.ts_ms,
            )
            for d in self.engine.wallet.deposits(currency)
        ]
        return list(reversed(found))

    async def withdraw(
        self,
        client_id: str,
        currency: str,
        amount: Decimal,
        to_address: str,
        chain: str,
        fee: Decimal | None = None,
    ) -> WithdrawalReport:
        now_ms = self._clock.now_ms()
        try:
            done = self.engine.wallet.withdraw(client_id, currency, amount, to_address, now_ms, fee)
        except InvalidInput as error:
            raise OrderRejected(str(error), code="51000") from None
        return _withdrawal(done)

    async def withdrawal(self, client_id: str) -> WithdrawalReport:
        self.engine.advance(self._clock.now_ms())
        return _withdrawal(self.engine.wallet.withdrawal(client_id))

    async def withdrawal_fee(self, currency: str) -> tuple[str, Decimal]:
        if currency not in CHAINS:
            raise OrderRejected(f"{currency} cannot be withdrawn onchain here", code="51000")
        return CHAINS[currency], MIN_WITHDRAWAL_FEE[currency]

    async def funding_payments(self, currency: str, since_ms: int) -> list[FundingPayment]:
        self.engine.advance(self._clock.now_ms())
        return [
            FundingPayment(bill_id, p.instrument_id, p.currency, p.amount_btc, p.ts_ms)
            for bill_id, p in self.engine.funding_bills(currency, since_ms)
        ]

    async def funding_rate(self, instrument_id: str) -> FundingRate:
        """The rate the engine settles at its next boundary (it publishes no forecast)."""
        if not self.engine.instrument(instrument_id).has_funding:
            raise OrderRejected(f"{instrument_id} has no funding rate", code="51000")
        next_ms = self.engine.next_funding_ms(instrument_id) or _next_boundary(self._clock)
        return FundingRate(
            instrument_id,
            self.engine.funding_rate(instrument_id),
            next_ms,
            next_ms + FUNDING_INTERVAL_MS,
        )

    async def funding_rate_history(
        self, instrument_id: str, since_ms: int
    ) -> list[SettledFundingRate]:
        return [
            SettledFundingRate(instrument_id, rate, at_ms)
            for at_ms, rate in self.engine.settled_funding_rates(instrument_id)
            if at_ms >= since_ms
        ]


def _next_boundary(clock: Clock) -> int:
    """Before its first price a swap has no boundary yet: the next one on the clock."""
    return (clock.now_ms() // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def _transfer(done: TransferResult) -> TransferReport:
    return TransferReport(
        client_id=done.client_id,
        transfer_id=done.transfer_id,
        currency=done.currency,
        amount=done.amount_btc,
        from_account=done.from_account.value,
        to_account=done.to_account.value,
        state=MovementState.DONE,  # the engine moves money between its accounts at once
        venue_state="success",
    )


def _withdrawal(done: Withdrawal) -> WithdrawalReport:
    return WithdrawalReport(
        client_id=done.client_id,
        withdrawal_id=done.withdrawal_id,
        currency=done.currency,
        chain=done.chain,
        amount=done.amount,
        fee=done.fee,
        to_address=done.to_address,
        state=okx_parse.withdrawal_state(done.state),
        venue_state=done.state,
        tx_id=done.tx_id,
        ts_ms=done.ts_ms,
    )

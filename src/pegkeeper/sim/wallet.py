"""Onchain money of the simulated exchange: deposit addresses, deposits and withdrawals.

Deposits arrive at the funding account in OKX's states: 0 (waiting for confirmations), 1
(credited, not yet withdrawable) after half the confirmation time, 2 (successful) after all of
it. Withdrawals leave the funding account (amount plus fee) when requested and go 0 (waiting),
1 (broadcast, with a transaction id), 2 (successful). Time moves only through `advance`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from pegkeeper.domain.errors import InvalidInput, NotFound, OrderRejected
from pegkeeper.domain.orders import CLIENT_ID_PATTERN

CHAINS = {"BTC": "BTC-Bitcoin", "USDT": "USDT-TRC20"}
MIN_WITHDRAWAL_FEE = {"BTC": Decimal("0.0001"), "USDT": Decimal(1)}


@dataclass(frozen=True, slots=True)
class Deposit:
    deposit_id: str
    currency: str
    chain: str
    amount: Decimal
    address: str
    tx_id: str
    state: str  # "0" waiting for confirmations, "1" credited, "2" successful
    ts_ms: int  # when it was seen onchain


@dataclass(frozen=True, slots=True)
class Withdrawal:
    withdrawal_id: str
    client_id: str
    currency: str
    chain: str
    amount: Decimal
    fee: Decimal
    to_address: str
    state: str  # "0" waiting, "1" broadcast, "2" successful
    tx_id: str
    ts_ms: int  # when it was requested


class Wallet:
    def __init__(
        self,
        credit_funding: Callable[[Decimal, str], None],
        debit_funding: Callable[[Decimal, str], None],
        *,
        deposit_confirmation_ms: int = 600_000,
        withdrawal_ms: int = 600_000,
    ) -> None:
        self._credit_funding = credit_funding
        self._debit_funding = debit_funding
        self._deposit_confirmation_ms = deposit_confirmation_ms
        self._withdrawal_ms = withdrawal_ms
        self._deposits: list[Deposit] = []
        self._withdrawals: dict[str, Withdrawal] = {}
        self.moving = 0  # deposits and withdrawals not yet in their final state "2"
        self.withdrawal_limit: Decimal | None = None  # per withdrawal; None: no limit
        # tells this exchange's deposit addresses apart from another simulated exchange's
        # paid by the same wallet; empty: the addresses every simulated exchange had before
        self.address_tag = ""

    def address(self, currency: str) -> str:
        return _address(self.address_tag, currency)

    def receive(
        self, amount: Decimal, currency: str, now_ms: int, tx_id: str | None = None
    ) -> Deposit:
        """A deposit to this exchange's address is seen onchain (in transaction `tx_id`)."""
        if not amount.is_finite() or amount <= 0:
            raise InvalidInput(f"a deposit must be positive, got {amount}")
        index = len(self._deposits) + 1
        deposit = Deposit(
            deposit_id=f"D{index}",
            currency=currency,
            chain=_chain(currency),
            amount=amount,
            address=self.address(currency),
            tx_id=tx_id or hashlib.sha256(f"deposit-{index}".encode()).hexdigest(),
            state="0",
            ts_ms=now_ms,
        )
        self._deposits.append(deposit)
        self.moving += 1
        return deposit

    def withdraw(
        self,
        client_id: str,
        currency: str,
        amount: Decimal,
        to_address: str,
        now_ms: int,
        fee: Decimal | None = None,
    ) -> Withdrawal:
        """Idempotent on `client_id`. Refused with 58350 when the funding account is short."""
        if not CLIENT_ID_PATTERN.match(client_id):
            raise OrderRejected(
                f"clientId {client_id!r} must be 1 to 32 alphanumerics", code="51000"
            )
        done = self._withdrawals.get(client_id)
        if done is not None:
            return done
        chain = _chain(currency)
        minimum_fee = MIN_WITHDRAWAL_FEE[currency]
        fee = minimum_fee if fee is None else fee
        if fee < minimum_fee:
            raise OrderRejected(f"fee must be at least {minimum_fee} {currency}", code="58208")
        if not to_address:
            raise OrderRejected("a withdrawal needs toAddr", code="58203")
        if self.withdrawal_limit is not None and amount > self.withdrawal_limit:
            raise OrderRejected(
                f"withdrawal amount exceeds the limit of {self.withdrawal_limit} {currency}",
                code="58201",
            )
        self._debit_funding(amount + fee, currency)
        withdrawal = Withdrawal(
            withdrawal_id=f"W{len(self._withdrawals) + 1}",
            client_id=client_id,
            currency=currency,
            chain=chain,
            amount=amount,
            fee=fee,
            to_address=to_address,
            state="0",
            tx_id="",
            ts_ms=now_ms,
        )
        self._withdrawals[client_id] = withdrawal
        self.moving += 1
        return withdrawal

    def advance(self, now_ms: int) -> None:
        if not self.moving:
            return  # nothing on its way: the common case on every price update
        for index, deposit in enumerate(self._deposits):
            state = _state_at(now_ms - deposit.ts_ms, self._deposit_confirmation_ms)
            if state == deposit.state:
                continue
            if deposit.state == "0":
                self._credit_funding(deposit.amount, deposit.currency)
            if state == "2":
                self.moving -= 1
            self._deposits[index] = replace(deposit, state=state)
        for client_id, withdrawal in self._withdrawals.items():
            state = _state_at(now_ms - withdrawal.ts_ms, self._withdrawal_ms)
            if state != withdrawal.state:
                if state == "2":
                    self.moving -= 1
                tx_id = hashlib.sha256(f"withdrawal-{client_id}".encode()).hexdigest()
                self._withdrawals[client_id] = replace(withdrawal, state=state, tx_id=tx_id)

    def deposits(self, currency: str | None = None) -> list[Deposit]:
        return [d for d in self._deposits if currency in (None, d.currency)]

    def withdrawals(self, currency: str | None = None) -> list[Withdrawal]:
        return [w for w in self._withdrawals.values() if currency in (None, w.currency)]

    def withdrawal(self, client_id: str) -> Withdrawal:
        found = self._withdrawals.get(client_id)
        if found is None:
            raise NotFound(f"withdrawal {client_id!r} does not exist", code="58129")
        return found


@functools.cache
def _address(tag: str, currency: str) -> str:
    """A deposit address, the same for the same tag and currency: made once (a wallet that
    follows the chain asks for it at every block)."""
    chain = _chain(currency)
    prefix = f"{tag}-" if tag else ""
    digest = hashlib.sha256(f"pegkeeper-sim-{prefix}{chain}".encode()).hexdigest()
    return f"bc1qsim{digest[:32]}" if currency == "BTC" else f"TSim{digest[:30]}"


def _chain(currency: str) -> str:
    chain = CHAINS.get(currency)
    if chain is None:
        raise OrderRejected(f"currency {currency!r} cannot move onchain here", code="51000")
    return chain


def _state_at(elapsed_ms: int, full_ms: int) -> str:
    if elapsed_ms >= full_ms:
        return "2"
    if elapsed_ms >= full_ms // 2:
        return "1"
    return "0"

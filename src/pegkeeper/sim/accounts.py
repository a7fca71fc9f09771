"""The accounts of the simulated exchange: per currency, trading (margin) and funding.

Every movement of trading cash goes through one method here, so the running totals always
explain each currency's balance exactly (see `EngineTotals`). Amounts are whole 1e-8 units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.errors import InvalidInput, OrderRejected
from pegkeeper.domain.orders import CLIENT_ID_PATTERN
from pegkeeper.domain.units import round_1e8
from pegkeeper.sim.events import AccountType, EngineTotals, TransferResult

ZERO = Decimal(0)
CURRENCIES = ("BTC", "USDT")


@dataclass(slots=True)
class Ledger:
    """One currency: trading cash, funding balance and the running totals of trading cash."""

    trading_cash: Decimal = ZERO
    funding: Decimal = ZERO
    net_inflow: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    funding_received: Decimal = ZERO
    shortfall: Decimal = ZERO


class Accounts:
    def __init__(self, on_trading_cash_change: Callable[[str], None]) -> None:
        self._on_trading_cash_change = on_trading_cash_change
        self._ledgers = {currency: Ledger() for currency in CURRENCIES}
        self._transfers: dict[str, TransferResult] = {}

    def ledger(self, currency: str) -> Ledger:
        ledger = self._ledgers.get(currency)
        if ledger is None:
            raise InvalidInput(f"currency {currency!r} is not kept; expected one of {CURRENCIES}")
        return ledger

    @property
    def trading_cash_btc(self) -> Decimal:
        return self._ledgers["BTC"].trading_cash

    @property
    def funding_btc(self) -> Decimal:
        return self._ledgers["BTC"].funding

    def credit_funding(self, amount: Decimal, currency: str = "BTC") -> None:
        _check_amount(amount)
        self.ledger(currency).funding += amount

    def debit_funding(self, amount: Decimal, currency: str) -> None:
        """Money leaving the exchange (a withdrawal); refused with 58350 when short."""
        _check_amount(amount)
        ledger = self.ledger(currency)
        if amount > ledger.funding:
            raise OrderRejected("insufficient balance in the funding account", code="58350")
        ledger.funding -= amount

    def credit_trading(self, amount: Decimal, currency: str = "BTC") -> None:
        _check_amount(amount)
        self.ledger(currency).net_inflow += amount
        self._change_trading_cash(currency, amount)

    def transfer(
        self,
        client_id: str,
        amount: Decimal,
        from_account: AccountType | str,
        to_account: AccountType | str,
        now_ms: int,
        trading_available: Callable[[str], Decimal],
        currency: str = "BTC",
    ) -> TransferResult:
        if not CLIENT_ID_PATTERN.match(client_id):
            raise OrderRejected(
                f"client id {client_id!r} must be 1 to 32 letters or digits", code="51000"
            )
        done = self._transfers.get(client_id)
        if done is not None:
            return done
        source, target = AccountType(from_account), AccountType(to_account)
        if source is target:
            raise OrderRejected(f"cannot transfer from {source} to itself", code="51000")
        _check_amount(amount)
        ledger = self.ledger(currency)
        if source is AccountType.FUNDING:
            if amount > ledger.funding:
                raise OrderRejected("insufficient balance in the funding account", code="58350")
            ledger.funding -= amount
            ledger.net_inflow += amount
            self._change_trading_cash(currency, amount)
        else:
            if amount > trading_available(currency):
                raise OrderRejected("insufficient balance in the trading account", code="58350")
            ledger.funding += amount
            ledger.net_inflow -= amount
            self._change_trading_cash(currency, -amount)
        transfer_id = f"T{len(self._transfers) + 1}"
        result = TransferResult(
            client_id, transfer_id, amount, source, target, now_ms, currency=currency
        )
        self._transfers[client_id] = result
        return result

    def transfer_by_client_id(self, client_id: str) -> TransferResult | None:
        return self._transfers.get(client_id)

    def transfers(self) -> tuple[TransferResult, ...]:
        return tuple(self._transfers.values())

    def pay_fees(self, fees: Decimal, currency: str = "BTC") -> None:
        self.ledger(currency).fees_paid += fees
        self._change_trading_cash(currency, -fees)

    def realise(self, pnl: Decimal, currency: str = "BTC") -> None:
        self.ledger(currency).realised_pnl += pnl
        self._change_trading_cash(currency, pnl)

    def receive_funding(self, amount: Decimal, currency: str = "BTC") -> None:
        self.ledger(currency).funding_received += amount
        self._change_trading_cash(currency, amount)

    def settle_liquidation(self, pnl: Decimal, currency: str = "BTC") -> Decimal:
        """Realise the liquidation's P&L; a loss beyond the cash is absorbed by the venue."""
        ledger = self.ledger(currency)
        shortfall = max(ZERO, -(ledger.trading_cash + pnl))
        ledger.realised_pnl += pnl
        ledger.shortfall += shortfall
        self._change_trading_cash(currency, pnl + shortfall)
        return shortfall

    def totals(self, currency: str = "BTC") -> EngineTotals:
        ledger = self.ledger(currency)
        return EngineTotals(
            currency=currency,
            net_inflow_to_trading=ledger.net_inflow,
            realised_pnl=ledger.realised_pnl,
            fees_paid=ledger.fees_paid,
            funding_received=ledger.funding_received,
            liquidation_shortfall=ledger.shortfall,
        )

    def _change_trading_cash(self, currency: str, delta: Decimal) -> None:
        self.ledger(currency).trading_cash += delta
        self._on_trading_cash_change(currency)


def _check_amount(amount: Decimal) -> None:
    if not amount.is_finite() or amount <= 0 or amount != round_1e8(amount):
        raise InvalidInput(
            f"amount must be a positive whole number of 1e-8 units (sats), got {amount}"
        )

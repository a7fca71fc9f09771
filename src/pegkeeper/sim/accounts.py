"""The BTC accounts of the simulated exchange: trading (margin) and funding.

Every movement of trading cash goes through one method here, so the running totals always
explain the balance exactly (see `EngineTotals`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from pegkeeper.domain.errors import InvalidInput, OrderRejected
from pegkeeper.domain.orders import CLIENT_ID_PATTERN
from pegkeeper.domain.units import round_btc
from pegkeeper.sim.events import AccountType, EngineTotals, TransferResult

ZERO = Decimal(0)


class Accounts:
    def __init__(self, on_trading_cash_change: Callable[[], None]) -> None:
        self._on_trading_cash_change = on_trading_cash_change
        self.trading_cash_btc = ZERO
        self.funding_btc = ZERO
        self._net_inflow_btc = ZERO
        self._realised_pnl_btc = ZERO
        self._fees_paid_btc = ZERO
        self._funding_received_btc = ZERO
        self._shortfall_btc = ZERO
        self._transfers: dict[str, TransferResult] = {}

    def credit_funding(self, amount_btc: Decimal) -> None:
        _check_amount_btc(amount_btc)
        self.funding_btc += amount_btc

    def credit_trading(self, amount_btc: Decimal) -> None:
        _check_amount_btc(amount_btc)
        self._net_inflow_btc += amount_btc
        self._change_trading_cash(amount_btc)

    def transfer(
        self,
        client_id: str,
        amount_btc: Decimal,
        from_account: AccountType | str,
        to_account: AccountType | str,
        now_ms: int,
        trading_available_btc: Callable[[], Decimal],
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
        _check_amount_btc(amount_btc)
        if source is AccountType.FUNDING:
            if amount_btc > self.funding_btc:
                raise OrderRejected("insufficient balance in the funding account", code="58350")
            self.funding_btc -= amount_btc
            self._net_inflow_btc += amount_btc
            self._change_trading_cash(amount_btc)
        else:
            if amount_btc > trading_available_btc():
                raise OrderRejected("insufficient balance in the trading account", code="58350")
            self.funding_btc += amount_btc
            self._net_inflow_btc -= amount_btc
            self._change_trading_cash(-amount_btc)
        transfer_id = f"T{len(self._transfers) + 1}"
        result = TransferResult(client_id, transfer_id, amount_btc, source, target, now_ms)
        self._transfers[client_id] = result
        return result

    def pay_fees(self, fees_btc: Decimal) -> None:
        self._fees_paid_btc += fees_btc
        self._change_trading_cash(-fees_btc)

    def realise(self, pnl_btc: Decimal) -> None:
        self._realised_pnl_btc += pnl_btc
        self._change_trading_cash(pnl_btc)

    def receive_funding(self, amount_btc: Decimal) -> None:
        self._funding_received_btc += amount_btc
        self._change_trading_cash(amount_btc)

    def settle_liquidation(self, pnl_btc: Decimal) -> Decimal:
        """Realise the liquidation's P&L; a loss beyond the cash is absorbed by the venue."""
        shortfall_btc = max(ZERO, -(self.trading_cash_btc + pnl_btc))
        self._realised_pnl_btc += pnl_btc
        self._shortfall_btc += shortfall_btc
        self._change_trading_cash(pnl_btc + shortfall_btc)
        return shortfall_btc

    def totals(self) -> EngineTotals:
        return EngineTotals(
            net_inflow_to_trading_btc=self._net_inflow_btc,
            realised_pnl_btc=self._realised_pnl_btc,
            fees_paid_btc=self._fees_paid_btc,
            funding_received_btc=self._funding_received_btc,
            liquidation_shortfall_btc=self._shortfall_btc,
        )

    def _change_trading_cash(self, delta_btc: Decimal) -> None:
        self.trading_cash_btc += delta_btc
        self._on_trading_cash_change()


def _check_amount_btc(amount_btc: Decimal) -> None:
    if not amount_btc.is_finite() or amount_btc <= 0 or amount_btc != round_btc(amount_btc):
        raise InvalidInput(f"amount must be a positive whole number of sats, got {amount_btc} BTC")

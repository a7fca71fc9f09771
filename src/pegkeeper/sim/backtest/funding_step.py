"""The seam between the backtester and whatever keeps the hedge's collateral.

`FundingStep` is what the runner asks of it: told every mark price, it says whether it wants a
cycle now (cheaply, without reading the venue); a cycle reads, decides and acts through the
venue and the clock. The funding service (services/funding.py of the funding work) has this
shape (`on_price`, `cycle`), so it plugs in as it is. Until it is wired, `TransferFunding`
stands in: a plain rule on leverage measured at the mark.

TransferFunding's rule, in the settlement currency (BTC for the inverse swap):
- the collateral wanted is `need / target_leverage`, where `need` is the larger of the
  position's notional and the liability (so that a liquidated or not yet opened hedge still
  gets the collateral it will need);
- leverage (need / equity) above `high_leverage`: transfer from the funding account up to the
  wanted collateral; what the funding account lacks comes by an onchain deposit of the
  shortfall plus its reserve (`funding_reserve_share` of the wanted collateral), credited
  `deposit_minutes` later, one deposit at a time;
- leverage below `low_leverage`: transfer the excess back to the funding account (never more
  than the trading account has available above its initial margin);
- a funding account holding more than twice its reserve: withdraw the excess onchain,
  paying the withdrawal fee; one holding less than half of it: refill it onchain.
Moves smaller than `min_transfer_usd` are not made.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Protocol

from pegkeeper.domain.instruments import ContractType, Instrument
from pegkeeper.ports import Clock
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.events import AccountType

SAT = Decimal("0.00000001")
OPERATOR_ADDRESS = {"BTC": "bc1qoperatorcoldwallet", "USDT": "TOperatorColdWallet"}


class FundingStep(Protocol):
    def on_price(self, mark_price_usd: Decimal) -> bool:
        """A new mark price; True when a cycle is wanted now. Reads nothing from the venue."""
        ...

    async def cycle(self, reason: str, correlation_id: str | None = None) -> object:
        """Read the account, decide, act (transfers, deposits, withdrawals)."""
        ...


@dataclass(frozen=True, slots=True)
class CollateralSettings:
    target_leverage: Decimal = Decimal(3)
    low_leverage: Decimal = Decimal(2)
    high_leverage: Decimal = Decimal("3.6")  # stablesats' high bound 4 with its 0.9 buffer
    funding_reserve_share: Decimal = Decimal("0.5")
    min_transfer_usd: Decimal = Decimal(100)

    def __post_init__(self) -> None:
        if not 0 < self.low_leverage <= self.target_leverage <= self.high_leverage:
            raise ValueError(
                "expected 0 < low_leverage <= target_leverage <= high_leverage, got "
                f"{self.low_leverage}, {self.target_leverage}, {self.high_leverage}"
            )
        if self.funding_reserve_share < 0 or self.min_transfer_usd < 0:
            raise ValueError("funding_reserve_share and min_transfer_usd must be >= 0")


class TransferFunding:
    def __init__(
        self,
        engine: SimEngine,
        clock: Clock,
        instrument: Instrument,
        liability_cents: Callable[[], int],
        settings: CollateralSettings,
        withdrawal_fee: Decimal,
        deposit_ms: int,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._instrument = instrument
        self._liability_cents = liability_cents
        self._settings = settings
        self._withdrawal_fee = withdrawal_fee
        self._deposit_ms = deposit_ms
        self._currency = instrument.settle_currency
        self._inverse = instrument.contract_type is ContractType.INVERSE
        self._face = float(instrument.contract_value)
        self._deposit_due_ms: int | None = None
        self._operations = 0
        self._reading = (0.0, 0.0, 0.0)  # size, average price, trading cash; as of the last cycle
        self._quiet_liability_cents = -1
        self._quiet_prices = (0.0, 0.0)
        self._acted = False
        self.cycles = 0

    # -- the cheap check on every price ----------------------------------------------------------

    def on_price(self, mark_price_usd: Decimal) -> bool:
        if self._deposit_due_ms is not None and self._clock.now_ms() >= self._deposit_due_ms:
            return True  # a deposit has arrived: into the trading account if it is needed
        if self._inverse:
            liability_cents = self._liability_cents()
            if liability_cents != self._quiet_liability_cents:
                self._quiet_band(liability_cents)
            low, high = self._quiet_prices
            return not low < float(mark_price_usd) < high
        return self._acts_at(float(mark_price_usd))

    def _quiet_band(self, liability_cents: int) -> None:
        """For the inverse swap, the prices between which leverage stays inside its bounds.

        With N = max(notional, liability) in USD, the leverage at price P is N / D(P) where
        D(P) = (cash + size * face / avg) * P - size * face is the equity times P: linear in
        P, so each bound is crossed at one price."""
        s = self._settings
        size, avg, cash = self._reading
        need_usd = max(abs(size) * self._face, liability_cents / 100)
        slope = cash + (size * self._face / avg if size and avg else 0.0)
        offset = -size * self._face
        self._quiet_liability_cents = liability_cents
        if need_usd <= 0:
            self._quiet_prices = (0.0, math.inf)
            return
        top = need_usd / float(s.low_leverage)  # D at the low bound: too much collateral
        if need_usd * (1 / float(s.low_leverage) - 1 / float(s.target_leverage)) < float(
            s.min_transfer_usd
        ):
            top = math.inf  # too small a book to move anything back
        bottom = need_usd / float(s.high_leverage)  # D at the high bound: too little
        self._quiet_prices = _prices_where(slope, offset, bottom, top)

    def _acts_at(self, price: float) -> bool:
        s = self._settings
        size, avg, cash = self._reading
        equity = cash + self._upnl(size, avg, price)
        need = self._need(abs(size), price)
        if need <= 0:
            return equity > self._units(float(s.min_transfer_usd), price)
        if equity <= 0 or need / equity > float(s.high_leverage):
            return True
        if need / equity >= float(s.low_leverage):
            return False
        initial = self._units(abs(size) * self._notional_usd(1, price), price) / float(
            self._engine.leverage(self._instrument.instrument_id)
        )
        excess = min(equity - need / float(s.target_leverage), equity - initial)
        return excess >= self._units(float(s.min_transfer_usd), price)

    # -- a cycle --------------------------------------------------------------------------------

    async def cycle(self, reason: str, correlation_id: str | None = None) -> None:
        self.cycles += 1
        self._acted = False
        engine, s = self._engine, self._settings
        self._engine.advance(self._clock.now_ms())  # a deposit due now is credited
        if self._deposit_due_ms is not None and self._clock.now_ms() >= self._deposit_due_ms:
            self._deposit_due_ms = None
        position = engine.position(self._instrument.instrument_id)
        price = position.mark_price_usd
        balances = engine.balances(self._currency)
        need = self._need_exact(abs(position.size_contracts), price)
        wanted = need / s.target_leverage
        equity = balances.trading_equity
        minimum = self._units_exact(s.min_transfer_usd, price)
        funding = balances.funding_balance
        if equity < wanted and (equity <= 0 or need / equity > s.high_leverage):
            funding = self._collateral_in(wanted - equity, funding, wanted, minimum)
        elif equity > 0 and need / equity < s.low_leverage:
            excess = min(equity - wanted, balances.trading_available)
            if excess >= minimum:
                self._transfer(_floor_sat(excess), AccountType.TRADING, AccountType.FUNDING)
                funding += _floor_sat(excess)
        reserve = wanted * s.funding_reserve_share
        if self._deposit_due_ms is None:
            if funding > 2 * reserve + minimum:
                self._withdraw(_floor_sat(funding - reserve - self._withdrawal_fee))
            elif funding < reserve / 2 and reserve - funding >= minimum:
                self._deposit(_ceil_sat(reserve - funding))
        self._remember(float(price))

    def _collateral_in(
        self, shortfall: Decimal, funding: Decimal, wanted: Decimal, minimum: Decimal
    ) -> Decimal:
        moved = min(_ceil_sat(shortfall), _floor_sat(funding))
        if moved >= minimum or (moved > 0 and moved == _ceil_sat(shortfall)):
            self._transfer(moved, AccountType.FUNDING, AccountType.TRADING)
            funding -= moved
        missing = _ceil_sat(shortfall) - moved
        if missing >= minimum and self._deposit_due_ms is None:
            reserve = wanted * self._settings.funding_reserve_share
            self._deposit(_ceil_sat(missing + reserve))
        return funding

    def _transfer(self, amount: Decimal, source: AccountType, target: AccountType) -> None:
        if amount <= 0:
            return
        self._operations += 1
        self._acted = True
        self._engine.transfer(
            f"bt{self._operations}", amount, source, target, self._clock.now_ms(), self._currency
        )

    def _deposit(self, amount: Decimal) -> None:
        now_ms = self._clock.now_ms()
        self._acted = True
        self._engine.wallet.receive(amount, self._currency, now_ms)
        self._deposit_due_ms = now_ms + self._deposit_ms

    def _withdraw(self, amount: Decimal) -> None:
        if amount <= 0:
            return
        self._operations += 1
        self._acted = True
        self._engine.wallet.withdraw(
            f"bw{self._operations}",
            self._currency,
            amount,
            OPERATOR_ADDRESS[self._currency],
            self._clock.now_ms(),
            fee=self._withdrawal_fee,
        )

    def _remember(self, price: float) -> None:
        """The account as it is now, for `on_price`. After a cycle that could do nothing about
        a bound already crossed (collateral too small to move back, a deposit on its way), the
        price alone does not ask again across that bound; a change of liability or position
        does, and so does the other bound."""
        position = self._engine.position(self._instrument.instrument_id)
        avg = float(position.avg_price_usd) if position.avg_price_usd is not None else 0.0
        cash = float(self._engine.trading_cash(self._currency))
        self._reading = (float(position.size_contracts), avg, cash)
        self._quiet_liability_cents = -1  # the band is computed again at the next price
        if self._inverse and not self._acted:
            liability_cents = self._liability_cents()
            self._quiet_band(liability_cents)
            low, high = self._quiet_prices
            self._quiet_prices = (0.0 if price <= low else low, math.inf if price >= high else high)

    # -- values in the settlement currency --------------------------------------------------------

    def _notional_usd(self, size: float, price: float) -> float:
        return size * self._face if self._inverse else size * self._face * price

    def _units(self, usd: float, price: float) -> float:
        return usd / price if self._inverse else usd

    def _units_exact(self, usd: Decimal, price: Decimal) -> Decimal:
        return usd / price if self._inverse else usd

    def _need_exact(self, size: Decimal, price: Decimal) -> Decimal:
        usd = max(
            self._instrument.notional_usd(size, price), Decimal(self._liability_cents()) / 100
        )
        return usd / price if self._inverse else usd

    def _need(self, size: float, price: float) -> float:
        liability_usd = self._liability_cents() / 100
        return self._units(max(self._notional_usd(size, price), liability_usd), price)

    def _upnl(self, size: float, avg: float, price: float) -> float:
        if size == 0 or avg == 0:
            return 0.0
        if self._inverse:
            return size * self._face * (1 / avg - 1 / price)
        return size * self._face * (price - avg)


def _prices_where(slope: float, offset: float, bottom: float, top: float) -> tuple[float, float]:
    """The open interval of prices P > 0 where bottom < slope * P + offset < top."""
    if slope == 0:
        return (0.0, math.inf) if bottom < offset < top else (0.0, 0.0)
    first, second = (bottom - offset) / slope, (top - offset) / slope
    low, high = (first, second) if slope > 0 else (second, first)
    return max(low, 0.0), high


def _ceil_sat(amount: Decimal) -> Decimal:
    return amount.quantize(SAT, rounding=ROUND_CEILING)


def _floor_sat(amount: Decimal) -> Decimal:
    return amount.quantize(SAT, rounding=ROUND_FLOOR)

"""Equity and margin of each settlement currency, over the markets settled in it."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.errors import OrderRejected
from pegkeeper.sim.accounts import Accounts
from pegkeeper.sim.market import Market

ZERO = Decimal(0)


class Margins:
    def __init__(
        self, markets: dict[str, Market], accounts: Accounts, maintenance_rate: Decimal
    ) -> None:
        self._markets = markets  # the engine's, fixed once it is made
        self._accounts = accounts
        self.maintenance_rate = maintenance_rate
        self._settled_in: dict[str, tuple[Market, ...]] = {}

    def markets_in(self, currency: str) -> tuple[Market, ...]:
        markets = self._settled_in.get(currency)
        if markets is None:
            markets = tuple(m for m in self._markets.values() if m.settle_currency == currency)
            self._settled_in[currency] = markets
        return markets

    def equity(self, currency: str) -> Decimal:
        upnl = ZERO
        for market in self.markets_in(currency):  # a loop: read on every funding check
            upnl += market.unrealised_pnl()
        return self._accounts.ledger(currency).trading_cash + upnl

    def available(self, currency: str, equity: Decimal | None = None) -> Decimal:
        """What can leave the trading account: equity (given, or read now) less the initial
        margin in use."""
        if equity is None:
            equity = self.equity(currency)
        return max(ZERO, equity - self.initial(currency))

    def initial(self, currency: str) -> Decimal:
        margin = ZERO
        for market in self.markets_in(currency):
            margin += market.initial_margin()
        return margin

    def maintenance(self, currency: str) -> Decimal:
        return sum((self.of_position(m)[1] for m in self.markets_in(currency)), ZERO)

    def of_position(self, market: Market) -> tuple[Decimal, Decimal]:
        """(initial, maintenance) margin of one position."""
        if market.size_contracts == 0:
            return ZERO, ZERO
        value = market.value(market.size_contracts, market.mark())
        return value / market.leverage, value * self.maintenance_rate

    def check_initial(self, market: Market, signed_contracts: Decimal) -> None:
        """Refuses with 51008 an order that would grow a position beyond the equity."""
        old_size = market.size_contracts
        new_size = old_size + signed_contracts
        reduces = abs(new_size) <= abs(old_size) and new_size * old_size >= 0
        if reduces:
            return
        currency = market.settle_currency
        others = sum(
            (m.initial_margin() for m in self.markets_in(currency) if m is not market), ZERO
        )
        required = others + market.initial_margin(new_size)
        if required > self.equity(currency):
            raise OrderRejected(
                f"insufficient balance: initial margin {required} {currency} exceeds equity",
                code="51008",
            )

    def refresh_liquidation_prices(self, currency: str) -> None:
        cash = self._accounts.ledger(currency).trading_cash
        for market in self.markets_in(currency):
            market.refresh_liquidation_price(cash, self.maintenance_rate)

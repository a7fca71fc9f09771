"""The simulated exchange: inverse and linear perpetual swaps and dated inverse futures, in
OKX's style (BTC-USD-SWAP, BTC-USDT-SWAP, BTC-USD-YYMMDD).

Pure and deterministic: time and prices are pushed in (`set_price`), nothing is read from a
clock. Money is Decimal, and every amount that moves between balances is a whole number of
1e-8 units (fees rounded up, P&L and funding half-even), so the books balance exactly.

Each settlement currency has one trading account that margins every instrument settled in it
(cross margin, single-currency margin as OKX's account level 2); the liquidation price of a
position uses that currency's whole trading cash, which is exact while one instrument per
currency is traded. Funding is settled on price updates; a dated future gets none and is
settled at its expiry at the price in force then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from pegkeeper.domain.errors import InvalidInput, NotFound, OrderRejected
from pegkeeper.domain.instruments import BTC_USD_SWAP, Instrument
from pegkeeper.domain.orders import OrderReport, OrderSide
from pegkeeper.domain.units import floor_1e8
from pegkeeper.domain.venue import VenueBalances, VenuePosition
from pegkeeper.sim.accounts import CURRENCIES, Accounts
from pegkeeper.sim.bills import FundingBills
from pegkeeper.sim.book import BookShape, SyntheticBook
from pegkeeper.sim.desk import DeskHooks, FeeRates, OrderDesk, OrderListener
from pegkeeper.sim.events import (
    AccountType,
    ChangeReason,
    Delivery,
    EngineTotals,
    FundingPayment,
    Liquidation,
    PositionChanged,
    TransferResult,
)
from pegkeeper.sim.margins import Margins
from pegkeeper.sim.market import Market
from pegkeeper.sim.orders import OrderType, SimOrder
from pegkeeper.sim.settlement import FUNDING_INTERVAL_MS, deliver, liquidate, settle_funding
from pegkeeper.sim.wallet import Wallet

ZERO = Decimal(0)
MAX_LEVERAGE = 100
SETTLE_CURRENCY = "BTC"

Listener = Callable[[PositionChanged], None]


class SimEngine:
    def __init__(
        self,
        instruments: Iterable[Instrument] = (BTC_USD_SWAP,),
        *,
        funding_rate: Decimal = Decimal("0.0001"),
        taker_fee_rate: Decimal = Decimal("0.0005"),
        maker_fee_rate: Decimal = Decimal("0.0002"),
        maintenance_margin_rate: Decimal = Decimal("0.004"),
        leverage: int | Decimal = 4,
        half_spread_usd: Decimal = Decimal("0.5"),
        level_step_usd: Decimal = Decimal("0.5"),
        levels: int = 20,
        level_size_contracts: Decimal = Decimal(500),
        deposit_confirmation_ms: int = 600_000,
        withdrawal_ms: int = 600_000,
    ) -> None:
        leverage = _checked_leverage(leverage)
        self._markets: dict[str, Market] = {}
        for instrument in instruments:
            if instrument.settle_currency not in CURRENCIES:
                raise ValueError(f"{instrument.instrument_id}: settled in an unknown currency")
            self._markets[instrument.instrument_id] = Market(instrument, funding_rate, leverage)
        if not self._markets:
            raise ValueError("the engine needs at least one instrument")
        self._default_id = next(iter(self._markets))
        self._book_shape = BookShape(half_spread_usd, level_step_usd, levels, level_size_contracts)
        self._accounts = Accounts(on_trading_cash_change=self._refresh_liquidation_prices)
        self._margins = Margins(self._markets, self._accounts, maintenance_margin_rate)
        self._wallet = Wallet(
            self._accounts.credit_funding,
            self._accounts.debit_funding,
            deposit_confirmation_ms=deposit_confirmation_ms,
            withdrawal_ms=withdrawal_ms,
        )
        hooks = DeskHooks(
            market_for_order=self._tradable_market,
            book_of=self._book_of,
            check_margin=self._margins.check_initial,
            position_changed=self._notify,
            next_id=self._next_id,
        )
        self._desk = OrderDesk(self._accounts, FeeRates(taker_fee_rate, maker_fee_rate), hooks)
        self._funding_payments: list[FundingPayment] = []
        self._bills = FundingBills()
        self._liquidations: list[Liquidation] = []
        self._deliveries: list[Delivery] = []
        self._listeners: list[Listener] = []
        self._sequence = 0
        self.position_mode = "net_mode"  # OKX's posMode; "long_short_mode" is not simulated
        self.account_level = 2  # OKX's acctLv: 2 = single-currency margin

    # -- instruments, prices, settings ---------------------------------------------------------

    @property
    def instrument_ids(self) -> tuple[str, ...]:
        return tuple(self._markets)

    @property
    def live_instrument_ids(self) -> tuple[str, ...]:
        """Every instrument but the dated futures already delivered."""
        return tuple(i for i, m in self._markets.items() if m.delivered_ms is None)

    def instrument(self, instrument_id: str | None = None) -> Instrument:
        return self._market(instrument_id).instrument

    def set_price(self, now_ms: int, price_usd: Decimal, instrument_id: str | None = None) -> None:
        """A new mark price: settles funding boundaries crossed (or the expiry of a future),
        fills resting orders it crosses, then checks liquidation."""
        market = self._markets.get(instrument_id or self._default_id)
        if market is None:
            market = self._market(instrument_id)  # raises NotFound
        if price_usd <= ZERO:
            raise ValueError(f"price must be positive, got {price_usd}")
        if market.delivered_ms is not None:
            raise ValueError(f"{market.instrument_id} expired at {market.delivered_ms}")
        previous_ms = market.price_ms
        if previous_ms is None:
            if market.instrument.has_funding:
                market.next_funding_ms = (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
        elif now_ms < previous_ms:
            raise ValueError(f"price time went back: {now_ms} < {previous_ms}")
        next_funding_ms = market.next_funding_ms
        if next_funding_ms is not None and next_funding_ms <= now_ms:
            self._settle_funding(market, now_ms, price_usd)
        expiry_ms = market.instrument.expiry_ms
        if expiry_ms is not None and expiry_ms <= now_ms:
            in_force = market.mark_price_usd
            at_expiry = price_usd if expiry_ms == now_ms or in_force is None else in_force
            self._deliver(market, now_ms, at_expiry)
            return
        market.mark_price_usd = price_usd
        market.price_ms = now_ms
        market.book = None
        self._desk.match_resting(market, now_ms)
        if market.crosses_liquidation(price_usd):
            self._liquidate(market, now_ms, price_usd)
        if self._wallet.moving:  # nothing on its way is the common case: not even a call
            self._wallet.advance(now_ms)

    def set_prices(self, now_ms: int, price_usd: Decimal) -> None:
        """The same price for every live instrument (no basis between swaps and futures)."""
        for instrument_id in self.live_instrument_ids:
            self.set_price(now_ms, price_usd, instrument_id)

    def advance(self, now_ms: int) -> None:
        """Time passes without a price: deposits and withdrawals move on."""
        self._wallet.advance(now_ms)

    def mark_price_usd(self, instrument_id: str | None = None) -> Decimal | None:
        return self._market(instrument_id).mark_price_usd

    def price_ms(self, instrument_id: str | None = None) -> int | None:
        """When the current price was set."""
        return self._market(instrument_id).price_ms

    def next_funding_ms(self, instrument_id: str | None = None) -> int | None:
        return self._market(instrument_id).next_funding_ms

    def book(self, instrument_id: str | None = None) -> SyntheticBook:
        return self._book_of(self._market(instrument_id))

    @property
    def book_shape(self) -> BookShape:
        return self._book_shape

    def set_book_shape(self, shape: BookShape) -> None:
        """The book every order meets from now on (a backtest follows each minute's volume)."""
        self._book_shape = shape
        for market in self._markets.values():
            market.book = None

    def funding_rate(self, instrument_id: str | None = None) -> Decimal:
        return self._market(instrument_id).funding_rate

    def set_funding_rate(self, rate: Decimal, instrument_id: str | None = None) -> None:
        self._market(instrument_id).funding_rate = rate

    def settled_funding_rates(self, instrument_id: str | None = None) -> list[tuple[int, Decimal]]:
        """(settlement time, rate) of every funding boundary passed, oldest first."""
        return list(self._market(instrument_id).settled_rates)

    def leverage(self, instrument_id: str | None = None) -> Decimal:
        return self._market(instrument_id).leverage

    def set_leverage(self, leverage: int | Decimal, instrument_id: str | None = None) -> None:
        self._market(instrument_id).leverage = _checked_leverage(leverage)

    def add_listener(self, listener: Listener) -> None:
        """Called synchronously after every fill, liquidation and delivery."""
        self._listeners.append(listener)

    def add_order_listener(self, listener: OrderListener) -> None:
        """Called synchronously after every change of an order's state or fills."""
        self._desk.add_listener(listener)

    # -- accounts ------------------------------------------------------------------------------

    def credit_funding(self, amount: Decimal, currency: str = SETTLE_CURRENCY) -> None:
        """Set-up money from outside, straight into the funding account."""
        self._accounts.credit_funding(amount, currency)

    def credit_trading(self, amount: Decimal, currency: str = SETTLE_CURRENCY) -> None:
        """Set-up money straight into the trading account."""
        self._accounts.credit_trading(amount, currency)

    def transfer(
        self,
        client_id: str,
        amount: Decimal,
        from_account: AccountType | str,
        to_account: AccountType | str,
        now_ms: int,
        currency: str = SETTLE_CURRENCY,
    ) -> TransferResult:
        """Move money between the funding and trading accounts; idempotent on `client_id`.

        Refused with code 58350 when the source lacks the amount; from trading, what is
        available is equity less the initial margin of the positions.
        """
        return self._accounts.transfer(
            client_id, amount, from_account, to_account, now_ms, self._margins.available, currency
        )

    def transfer_by_client_id(self, client_id: str) -> TransferResult:
        found = self._accounts.transfer_by_client_id(client_id)
        if found is None:
            raise NotFound(f"transfer {client_id!r} does not exist", code="58129")
        return found

    def balances(self, currency: str = SETTLE_CURRENCY) -> VenueBalances:
        if currency not in CURRENCIES:
            return VenueBalances(currency, ZERO, ZERO, ZERO)
        equity = self._margins.equity(currency)
        return VenueBalances(
            currency=currency,
            trading_equity=equity,
            trading_available=floor_1e8(self._margins.available(currency, equity)),
            funding_balance=self._accounts.ledger(currency).funding,
        )

    def trading_cash(self, currency: str = SETTLE_CURRENCY) -> Decimal:
        return self._accounts.ledger(currency).trading_cash

    def initial_margin(self, currency: str = SETTLE_CURRENCY) -> Decimal:
        """Initial margin of every position settled in `currency`, at the marks."""
        return self._margins.initial(currency)

    def maintenance_margin(self, currency: str = SETTLE_CURRENCY) -> Decimal:
        return self._margins.maintenance(currency)

    def position_margins(self, instrument_id: str | None = None) -> tuple[Decimal, Decimal]:
        """(initial, maintenance) margin of one position, in its settlement currency."""
        return self._margins.of_position(self._market(instrument_id))

    def totals(self, currency: str = SETTLE_CURRENCY) -> EngineTotals:
        return self._accounts.totals(currency)

    @property
    def trading_cash_btc(self) -> Decimal:
        return self._accounts.trading_cash_btc

    @property
    def funding_payments(self) -> tuple[FundingPayment, ...]:
        return tuple(self._funding_payments)

    def funding_bills(
        self, currency: str = SETTLE_CURRENCY, since_ms: int | None = None
    ) -> list[tuple[str, FundingPayment]]:
        """The funding payments in `currency` (paid at `since_ms` or later, when given), oldest
        first, each with the bill id the venue gives it: its place among all the engine's
        payments, from 1, never reused."""
        return self._bills.since(currency, since_ms)

    @property
    def transfers(self) -> tuple[TransferResult, ...]:
        """Every transfer between the funding and trading accounts, oldest first."""
        return self._accounts.transfers()

    @property
    def liquidations(self) -> tuple[Liquidation, ...]:
        return tuple(self._liquidations)

    @property
    def liquidation_count(self) -> int:
        return len(self._liquidations)

    @property
    def deliveries(self) -> tuple[Delivery, ...]:
        return tuple(self._deliveries)

    # -- onchain -------------------------------------------------------------------------------

    @property
    def wallet(self) -> Wallet:
        """Deposit addresses, deposits seen onchain, withdrawals, of the funding accounts."""
        return self._wallet

    # -- orders and positions ------------------------------------------------------------------

    def place_order(
        self,
        client_order_id: str,
        instrument_id: str,
        side: OrderSide,
        size_contracts: Decimal,
        now_ms: int,
        *,
        order_type: OrderType = OrderType.MARKET,
        limit_price_usd: Decimal | None = None,
        max_fill_contracts: Decimal | None = None,
    ) -> SimOrder:
        """Refused with OrderRejected (no effect); `max_fill_contracts` leaves a market order
        partly filled."""
        return self._desk.place(
            client_order_id,
            instrument_id,
            side,
            size_contracts,
            now_ms,
            order_type=order_type,
            limit_price_usd=limit_price_usd,
            max_fill_contracts=max_fill_contracts,
        )

    def place_market_order(
        self,
        client_order_id: str,
        instrument_id: str,
        side: OrderSide,
        size_contracts: Decimal,
        now_ms: int,
    ) -> OrderReport:
        return self.place_order(
            client_order_id, instrument_id, side, size_contracts, now_ms
        ).report()

    def close_position(
        self,
        client_order_id: str,
        instrument_id: str,
        now_ms: int,
        max_fill_contracts: Decimal | None = None,
    ) -> OrderReport:
        return self.close_position_order(
            client_order_id, instrument_id, now_ms, max_fill_contracts
        ).report()

    def close_position_order(
        self,
        client_order_id: str,
        instrument_id: str,
        now_ms: int,
        max_fill_contracts: Decimal | None = None,
    ) -> SimOrder:
        return self._desk.close(client_order_id, instrument_id, now_ms, max_fill_contracts)

    def cancel_order(
        self, client_order_id: str, instrument_id: str | None, now_ms: int
    ) -> SimOrder:
        return self._desk.cancel(client_order_id, instrument_id, now_ms)

    def fill_remaining(self, client_order_id: str, now_ms: int) -> SimOrder:
        order = self._desk.get(client_order_id)
        return self._desk.fill_remaining(client_order_id, self._market(order.instrument_id), now_ms)

    def order(self, client_order_id: str, instrument_id: str | None = None) -> OrderReport:
        return self._desk.get(client_order_id, instrument_id).report()

    def order_details(self, client_order_id: str, instrument_id: str | None = None) -> SimOrder:
        return self._desk.get(client_order_id, instrument_id)

    def orders(self, instrument_id: str | None = None) -> list[SimOrder]:
        return self._desk.orders(instrument_id)

    def open_orders(self, instrument_id: str | None = None) -> list[SimOrder]:
        return self._desk.open_orders(instrument_id)

    @property
    def has_open_orders(self) -> bool:
        return self._desk.has_open_orders

    def position(self, instrument_id: str | None = None) -> VenuePosition:
        market = self._market(instrument_id)
        return VenuePosition(
            instrument_id=market.instrument_id,
            size_contracts=market.size_contracts,
            avg_price_usd=market.avg_price_usd,
            mark_price_usd=market.mark(),
            liquidation_price_usd=market.liquidation_price_usd,
            unrealised_pnl=market.unrealised_pnl(),
        )

    # -- internals -----------------------------------------------------------------------------

    def _market(self, instrument_id: str | None) -> Market:
        market = self._markets.get(instrument_id or self._default_id)
        if market is None:
            raise NotFound(f"instrument {instrument_id!r} does not exist", code="51001")
        return market

    def _tradable_market(self, instrument_id: str) -> Market:
        market = self._markets.get(instrument_id)
        if market is None:
            raise OrderRejected(f"instrument {instrument_id!r} does not exist", code="51001")
        if market.delivered_ms is not None:
            raise OrderRejected(f"{instrument_id} has expired", code="51027")
        return market

    def _book_of(self, market: Market) -> SyntheticBook:
        if market.book is None:
            market.book = SyntheticBook(market.mark(), self._book_shape)
        return market.book

    def _settle_funding(self, market: Market, now_ms: int, new_price_usd: Decimal) -> None:
        for payment in settle_funding(market, now_ms, new_price_usd):
            self._accounts.receive_funding(payment.amount_btc, payment.currency)
            self._funding_payments.append(payment)
            self._bills.add(str(len(self._funding_payments)), payment)

    def _deliver(self, market: Market, now_ms: int, price_usd: Decimal) -> None:
        self._desk.cancel_all(market.instrument_id, "the contract expired", now_ms)
        delivery = deliver(market, now_ms, price_usd)
        self._accounts.realise(delivery.realised_pnl, market.settle_currency)
        self._deliveries.append(delivery)
        self._notify(market, ChangeReason.DELIVERY, now_ms)

    def _liquidate(self, market: Market, now_ms: int, mark_price_usd: Decimal) -> None:
        self._desk.cancel_all(market.instrument_id, "liquidation", now_ms)
        realised, close = liquidate(market)
        shortfall = self._accounts.settle_liquidation(realised, market.settle_currency)
        self._liquidations.append(close(now_ms, mark_price_usd, shortfall))
        self._notify(market, ChangeReason.LIQUIDATION, now_ms)

    def _refresh_liquidation_prices(self, currency: str) -> None:
        self._margins.refresh_liquidation_prices(currency)

    def _notify(self, market: Market, reason: ChangeReason, now_ms: int) -> None:
        event = PositionChanged(market.instrument_id, reason, now_ms)
        for listener in self._listeners:
            listener(event)

    def _next_id(self) -> str:
        self._sequence += 1
        return str(self._sequence)


def _checked_leverage(leverage: int | Decimal) -> Decimal:
    if not 1 <= leverage <= MAX_LEVERAGE:
        raise InvalidInput(f"leverage must be 1 to {MAX_LEVERAGE}, got {leverage}")
    return Decimal(leverage)

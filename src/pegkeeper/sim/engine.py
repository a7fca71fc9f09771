"""The simulated exchange: an inverse perpetual venue (OKX BTC-USD-SWAP style).

Pure and deterministic: time and prices are pushed in (`set_price`), nothing is read from a
clock. Money is Decimal BTC, and every amount that moves between balances is a whole number of
sats (fees rounded up, P&L and funding half-even), so the books balance exactly.

One BTC trading account margins every instrument (cross margin); the liquidation price of a
position uses the whole trading cash balance, which is exact while one instrument is traded.
Funding is settled on price updates; dated futures get no funding (expiry is not simulated).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from pegkeeper.domain.errors import InvalidInput, NotFound, OrderRejected
from pegkeeper.domain.instruments import BTC_USD_SWAP, ContractType, Instrument
from pegkeeper.domain.orders import (
    CLIENT_ID_PATTERN,
    Fill,
    OrderReport,
    OrderSide,
    OrderState,
)
from pegkeeper.domain.units import ceil_btc, floor_btc, round_btc
from pegkeeper.domain.venue import VenueBalances, VenuePosition
from pegkeeper.sim.accounts import Accounts
from pegkeeper.sim.book import BookShape, InsufficientDepth, SyntheticBook
from pegkeeper.sim.events import (
    AccountType,
    ChangeReason,
    EngineTotals,
    FundingPayment,
    Liquidation,
    PositionChanged,
    TransferResult,
)
from pegkeeper.sim.inverse import harmonic_average_price_usd
from pegkeeper.sim.market import Market

ZERO = Decimal(0)
FUNDING_INTERVAL_MS = 8 * 3600 * 1000  # boundaries at 00:00, 08:00, 16:00 UTC
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
        maintenance_margin_rate: Decimal = Decimal("0.004"),
        leverage: int | Decimal = 4,
        half_spread_usd: Decimal = Decimal("0.5"),
        level_step_usd: Decimal = Decimal("0.5"),
        levels: int = 20,
        level_size_contracts: Decimal = Decimal(500),
    ) -> None:
        leverage = _checked_leverage(leverage)
        self._markets: dict[str, Market] = {}
        for instrument in instruments:
            if instrument.contract_type is not ContractType.INVERSE:
                raise ValueError(
                    f"{instrument.instrument_id}: only inverse contracts are simulated"
                )
            self._markets[instrument.instrument_id] = Market(instrument, funding_rate, leverage)
        if not self._markets:
            raise ValueError("the engine needs at least one instrument")
        self._default_id = next(iter(self._markets))
        self._taker_fee_rate = taker_fee_rate
        self._maintenance_margin_rate = maintenance_margin_rate
        self._book_shape = BookShape(half_spread_usd, level_step_usd, levels, level_size_contracts)
        self._accounts = Accounts(on_trading_cash_change=self._refresh_liquidation_prices)
        self._orders: dict[str, tuple[str, OrderReport]] = {}
        self._funding_payments: list[FundingPayment] = []
        self._liquidations: list[Liquidation] = []
        self._listeners: list[Listener] = []
        self._sequence = 0

    # -- instruments, prices, settings ---------------------------------------------------------

    @property
    def instrument_ids(self) -> tuple[str, ...]:
        return tuple(self._markets)

    def instrument(self, instrument_id: str | None = None) -> Instrument:
        return self._market(instrument_id).instrument

    def set_price(self, now_ms: int, price_usd: Decimal, instrument_id: str | None = None) -> None:
        """A new mark price: settles funding boundaries crossed, then checks liquidation."""
        market = self._market(instrument_id)
        if price_usd <= 0:
            raise ValueError(f"price must be positive, got {price_usd}")
        previous_ms = market.price_ms
        if previous_ms is None:
            if market.instrument.has_funding:
                market.next_funding_ms = (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
        elif now_ms < previous_ms:
            raise ValueError(f"price time went back: {now_ms} < {previous_ms}")
        next_funding_ms = market.next_funding_ms
        if next_funding_ms is not None and next_funding_ms <= now_ms:
            self._settle_funding(market, now_ms, price_usd)
        market.mark_price_usd = price_usd
        market.price_ms = now_ms
        market.book = None
        if market.crosses_liquidation(price_usd):
            self._liquidate(market, now_ms, price_usd)

    def mark_price_usd(self, instrument_id: str | None = None) -> Decimal | None:
        return self._market(instrument_id).mark_price_usd

    def book(self, instrument_id: str | None = None) -> SyntheticBook:
        market = self._market(instrument_id)
        if market.book is None:
            market.book = SyntheticBook(market.mark(), self._book_shape)
        return market.book

    def funding_rate(self, instrument_id: str | None = None) -> Decimal:
        return self._market(instrument_id).funding_rate

    def set_funding_rate(self, rate: Decimal, instrument_id: str | None = None) -> None:
        self._market(instrument_id).funding_rate = rate

    def leverage(self, instrument_id: str | None = None) -> Decimal:
        return self._market(instrument_id).leverage

    def set_leverage(self, leverage: int | Decimal, instrument_id: str | None = None) -> None:
        self._market(instrument_id).leverage = _checked_leverage(leverage)

    def add_listener(self, listener: Listener) -> None:
        """Called synchronously after every fill and liquidation."""
        self._listeners.append(listener)

    # -- accounts ------------------------------------------------------------------------------

    def credit_funding(self, amount_btc: Decimal) -> None:
        """Set-up money from outside (a deposit that has arrived)."""
        self._accounts.credit_funding(amount_btc)

    def credit_trading(self, amount_btc: Decimal) -> None:
        """Set-up money straight into the trading account."""
        self._accounts.credit_trading(amount_btc)

    def transfer(
        self,
        client_id: str,
        amount_btc: Decimal,
        from_account: AccountType | str,
        to_account: AccountType | str,
        now_ms: int,
    ) -> TransferResult:
        """Move BTC between the funding and trading accounts; idempotent on `client_id`.

        Refused with code 58350 when the source lacks the amount; from trading, what is
        available is equity less the initial margin of the positions.
        """
        return self._accounts.transfer(
            client_id, amount_btc, from_account, to_account, now_ms, self._trading_available_btc
        )

    def balances(self, currency: str = SETTLE_CURRENCY) -> VenueBalances:
        if currency != SETTLE_CURRENCY:
            return VenueBalances(currency, ZERO, ZERO, ZERO)
        return VenueBalances(
            currency=SETTLE_CURRENCY,
            trading_equity=self._trading_equity_btc(),
            trading_available=floor_btc(self._trading_available_btc()),
            funding_balance=self._accounts.funding_btc,
        )

    def totals(self) -> EngineTotals:
        return self._accounts.totals()

    @property
    def trading_cash_btc(self) -> Decimal:
        return self._accounts.trading_cash_btc

    @property
    def funding_payments(self) -> tuple[FundingPayment, ...]:
        return tuple(self._funding_payments)

    @property
    def liquidations(self) -> tuple[Liquidation, ...]:
        return tuple(self._liquidations)

    @property
    def liquidation_count(self) -> int:
        return len(self._liquidations)

    # -- orders and positions ------------------------------------------------------------------

    def place_market_order(
        self,
        client_order_id: str,
        instrument_id: str,
        side: OrderSide,
        size_contracts: Decimal,
        now_ms: int,
    ) -> OrderReport:
        market = self._order_market(client_order_id, instrument_id)
        side, size_contracts = OrderSide(side), Decimal(size_contracts)
        lot = market.instrument.lot_size_contracts
        if (
            not size_contracts.is_finite()
            or size_contracts < market.instrument.min_size_contracts
            or size_contracts % lot != 0
        ):
            raise OrderRejected(
                f"size {size_contracts} must be a positive multiple of {lot} contracts",
                code="51000",
            )
        signed = size_contracts if side is OrderSide.BUY else -size_contracts
        self._check_initial_margin(market, signed)
        return self._execute(client_order_id, market, side, size_contracts, now_ms)

    def close_position(self, client_order_id: str, instrument_id: str, now_ms: int) -> OrderReport:
        market = self._order_market(client_order_id, instrument_id)
        if market.size_contracts == 0:
            raise OrderRejected(f"position does not exist for {instrument_id}", code="51023")
        side = OrderSide.SELL if market.size_contracts > 0 else OrderSide.BUY
        return self._execute(client_order_id, market, side, abs(market.size_contracts), now_ms)

    def order(self, client_order_id: str, instrument_id: str | None = None) -> OrderReport:
        stored = self._orders.get(client_order_id)
        if stored is None or (instrument_id is not None and stored[0] != instrument_id):
            raise NotFound(f"order {client_order_id!r} does not exist", code="51603")
        return stored[1]

    def position(self, instrument_id: str | None = None) -> VenuePosition:
        market = self._market(instrument_id)
        return VenuePosition(
            instrument_id=market.instrument_id,
            size_contracts=market.size_contracts,
            avg_price_usd=market.avg_price_usd,
            mark_price_usd=market.mark(),
            liquidation_price_usd=market.liquidation_price_usd,
            unrealised_pnl=market.unrealised_pnl_btc(),
        )

    # -- internals -----------------------------------------------------------------------------

    def _market(self, instrument_id: str | None) -> Market:
        market = self._markets.get(instrument_id or self._default_id)
        if market is None:
            raise NotFound(f"instrument {instrument_id!r} does not exist", code="51001")
        return market

    def _order_market(self, client_order_id: str, instrument_id: str) -> Market:
        if not CLIENT_ID_PATTERN.match(client_order_id):
            raise OrderRejected(
                f"clOrdId {client_order_id!r} must be 1 to 32 letters or digits", code="51000"
            )
        if client_order_id in self._orders:
            raise OrderRejected(f"duplicated clOrdId {client_order_id!r}", code="51016")
        market = self._markets.get(instrument_id)
        if market is None:
            raise OrderRejected(f"instrument {instrument_id!r} does not exist", code="51001")
        market.mark()  # VenueUnavailable before the first price
        return market

    def _check_initial_margin(self, market: Market, signed_contracts: Decimal) -> None:
        old_size = market.size_contracts
        new_size = old_size + signed_contracts
        reduces = abs(new_size) <= abs(old_size) and new_size * old_size >= 0
        if reduces:
            return
        required_btc = market.initial_margin_btc(new_size)
        if required_btc > self._trading_equity_btc():
            raise OrderRejected(
                f"insufficient balance: initial margin {required_btc} BTC exceeds equity",
                code="51008",
            )

    def _execute(
        self,
        client_order_id: str,
        market: Market,
        side: OrderSide,
        size_contracts: Decimal,
        now_ms: int,
    ) -> OrderReport:
        try:
            taken = self.book(market.instrument_id).walk(side, size_contracts)
        except InsufficientDepth as exc:
            raise OrderRejected(str(exc), code="51202") from exc
        face = market.instrument.contract_value
        fills = tuple(
            Fill(
                fill_id=self._next_id(),
                client_order_id=client_order_id,
                size_contracts=level.size_contracts,
                price_usd=level.price_usd,
                fee=ceil_btc(level.size_contracts * face / level.price_usd * self._taker_fee_rate),
                fee_currency=SETTLE_CURRENCY,
                ts_ms=now_ms,
            )
            for level in taken
        )
        avg_price = harmonic_average_price_usd(taken)
        fees_btc = sum((fill.fee for fill in fills), ZERO)
        self._accounts.pay_fees(fees_btc)
        signed = size_contracts if side is OrderSide.BUY else -size_contracts
        self._accounts.realise(round_btc(market.apply_fill(signed, avg_price)))
        report = OrderReport(
            client_order_id=client_order_id,
            venue_order_id=self._next_id(),
            state=OrderState.FILLED,
            filled_contracts=size_contracts,
            avg_price_usd=avg_price,
            fills=fills,
        )
        self._orders[client_order_id] = (market.instrument_id, report)
        self._notify(market, ChangeReason.FILL, now_ms)
        return report

    def _settle_funding(self, market: Market, now_ms: int, new_price_usd: Decimal) -> None:
        """Every boundary in (last price time, now]; each at the price in force at that time."""
        boundary_ms = market.next_funding_ms
        assert boundary_ms is not None
        face = market.instrument.contract_value
        while boundary_ms <= now_ms:
            mark = new_price_usd if boundary_ms == now_ms else market.mark()
            size = market.size_contracts
            # Positive rate: longs pay shorts.
            amount_btc = round_btc(-size * face / mark * market.funding_rate)
            if size != 0:
                self._funding_payments.append(
                    FundingPayment(
                        boundary_ms,
                        market.instrument_id,
                        market.funding_rate,
                        size,
                        mark,
                        amount_btc,
                    )
                )
                self._accounts.receive_funding(amount_btc)
            boundary_ms += FUNDING_INTERVAL_MS
        market.next_funding_ms = boundary_ms

    def _liquidate(self, market: Market, now_ms: int, mark_price_usd: Decimal) -> None:
        """Closes the whole position at the liquidation price; equity left stays as cash."""
        size, liquidation_price_usd = market.size_contracts, market.liquidation_price_usd
        assert liquidation_price_usd is not None
        realised_btc = round_btc(market.unrealised_pnl_btc(liquidation_price_usd))
        market.size_contracts = ZERO
        market.avg_price_usd = None
        shortfall_btc = self._accounts.settle_liquidation(realised_btc)
        self._liquidations.append(
            Liquidation(
                now_ms,
                market.instrument_id,
                size,
                liquidation_price_usd,
                mark_price_usd,
                realised_btc,
                shortfall_btc,
            )
        )
        self._notify(market, ChangeReason.LIQUIDATION, now_ms)

    def _refresh_liquidation_prices(self) -> None:
        cash_btc = self._accounts.trading_cash_btc
        for market in self._markets.values():
            market.refresh_liquidation_price(cash_btc, self._maintenance_margin_rate)

    def _trading_equity_btc(self) -> Decimal:
        upnl_btc = sum((m.unrealised_pnl_btc() for m in self._markets.values()), ZERO)
        return self._accounts.trading_cash_btc + upnl_btc

    def _trading_available_btc(self) -> Decimal:
        initial_margin_btc = sum((m.initial_margin_btc() for m in self._markets.values()), ZERO)
        return max(ZERO, self._trading_equity_btc() - initial_margin_btc)

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

"""Any derivatives exchange ccxt knows, behind the `Venue` port, through ccxt's unified API.

Instruments are named by ccxt's unified symbols (Binance COIN-M's BTCUSD_PERP is
"BTC/USD:BTC"). Profiles hold what differs per exchange beyond ccxt: which markets to load,
the parameters every order needs, the name of the funding wallet. Client order ids go in
ccxt's unified `clientOrderId` (OKX clOrdId, Binance newClientOrderId, Bybit orderLinkId).
Failures are translated as for OKX (see ccxt_support): refused, not processed, or uncertain.

ccxt's unified numbers are floats; they are read back through their shortest text, so that
0.1 stays 0.1. Fills are recorded once per order, when it is final, as one aggregate fill
under the exchange's order id.
"""

from __future__ import annotations

import asyncio
import decimal
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt.pro
import structlog

from pegkeeper.adapters.pacing import RequestBudget
from pegkeeper.adapters.venues.ccxt_support import (
    all_or_none,
    is_rate_limit,
    placement_error,
    quiet_ccxt_logs,
    read_error,
    with_retries,
)
from pegkeeper.adapters.venues.position_watch import PositionWatch, RowToPosition
from pegkeeper.domain.errors import (
    NotFound,
    OrderRejected,
    PositionAlreadyClosed,
    VenueUnavailable,
)
from pegkeeper.domain.instruments import ContractType, Instrument, InstrumentKind
from pegkeeper.domain.orders import (
    Fill,
    OrderIntent,
    OrderKind,
    OrderReport,
    OrderSide,
    OrderState,
)
from pegkeeper.domain.venue import VenueBalances, VenuePosition, VenueResync
from pegkeeper.ports import Clock

log = structlog.get_logger("pegkeeper.venues.ccxt")

ZERO = Decimal(0)
STATES = {
    "closed": OrderState.FILLED,
    "canceled": OrderState.CANCELED,
    "cancelled": OrderState.CANCELED,
    "expired": OrderState.CANCELED,
    "rejected": OrderState.REJECTED,
}


@dataclass(frozen=True, slots=True)
class CcxtProfile:
    exchange_id: str
    options: Mapping[str, Any] = field(default_factory=dict)
    order_params: Mapping[str, Any] = field(default_factory=dict)
    funding_wallet: str | None = None  # fetch_balance's type of the funding wallet
    overridable_urls: bool = False  # whether rest_url / ws_url can point it elsewhere


PROFILES = {
    "okx": CcxtProfile(
        "okx",
        options={"fetchMarkets": {"types": ["swap", "future"]}},
        order_params={"marginMode": "cross", "positionSide": "net"},
        funding_wallet="funding",
        overridable_urls=True,
    ),
    "binancecoinm": CcxtProfile(
        "binancecoinm",
        options={"fetchMarkets": {"types": ["inverse"]}, "defaultSubType": "inverse"},
        funding_wallet="funding",
    ),
    "bybit": CcxtProfile(
        "bybit",
        options={
            "fetchMarkets": {"types": ["inverse"]},
            "defaultType": "swap",
            "defaultSubType": "inverse",
        },
        order_params={"positionIdx": 0},  # one-way mode
        funding_wallet="fund",
    ),
}


@dataclass(frozen=True, slots=True)
class CcxtVenueSettings:
    rest_url: str = ""
    ws_url: str = ""
    request_timeout_seconds: float = 10.0
    retry_attempts: int = 3
    retry_backoff_seconds: float = 0.2
    burst_requests: int = 20
    burst_refill_per_second: float = 10.0
    rate_limit_pause_seconds: float = 2.0
    max_price_age_seconds: float = 60.0
    ws_silence_seconds: float = 30.0
    ccxt_rate_limit_ms: int | None = None


class CcxtVenue:
    def __init__(
        self,
        profile: CcxtProfile,
        settings: CcxtVenueSettings,
        credentials: Mapping[str, str],
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        quiet_ccxt_logs()
        self.name = profile.exchange_id
        self.profile = profile
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self.client = make_client(profile, settings, credentials)
        self._budget = RequestBudget(
            settings.burst_requests,
            settings.burst_refill_per_second,
            settings.rate_limit_pause_seconds,
            self._rng,
        )
        self.watches: list[PositionWatch] = []

    async def start(self) -> None:
        await self._read("load_markets")

    async def close(self) -> None:
        """Closes the HTTP session and the WebSockets; a socket that will not close in 5 s is
        abandoned rather than waited for."""
        try:
            async with asyncio.timeout(5):
                await self.client.close()
        except (TimeoutError, OSError) as error:
            log.warning("venue did not close cleanly", venue=self.name, error=str(error))

    async def instrument(self, instrument_id: str) -> Instrument:
        if self.client.markets is None:
            await self.start()
        market = self.client.markets.get(instrument_id)
        if market is None:
            raise NotFound(f"{self.name} has no market {instrument_id}")
        return instrument_of(market)

    async def position(self, instrument_id: str) -> VenuePosition:
        instrument = await self.instrument(instrument_id)
        rows, ticker = await all_or_none(
            self._read("fetch_positions", [instrument_id]),
            self._read("fetch_ticker", instrument_id),
        )
        mark = self._fresh_price(instrument_id, ticker)
        ours = [p for p in map(unified_position(instrument_id), rows) if p is not None]
        if ours:
            return ours[0]
        if not rows:
            balance = await self._read("fetch_balance")
            used = (balance.get(instrument.settle_currency) or {}).get("used") or 0
            if _decimal(used) > 0:
                raise VenueUnavailable(
                    f"{self.name} listed no position while {used} "
                    f"{instrument.settle_currency} of margin is in use: not trusted"
                )
        return VenuePosition(instrument_id, ZERO, None, mark)

    async def balances(self, currency: str) -> VenueBalances:
        trading = await self._read("fetch_balance")
        row = trading.get(currency) or {}
        funding = ZERO
        if self.profile.funding_wallet is not None:
            wallet = await self._read("fetch_balance", {"type": self.profile.funding_wallet})
            funding = _decimal((wallet.get(currency) or {}).get("total") or 0)
        return VenueBalances(
            currency, _decimal(row.get("total") or 0), _decimal(row.get("free") or 0), funding
        )

    async def place_market_order(self, intent: OrderIntent) -> OrderReport:
        assert intent.side is not None
        await self._create(intent, intent.side, intent.size_contracts, {})
        return await self._report_after_placing(intent)

    async def place_limit_order(self, intent: OrderIntent) -> OrderReport:
        """A limit order, or with ccxt's unified `postOnly` a post-only one."""
        if intent.side is None or intent.limit_price_usd is None:
            raise OrderRejected(f"not a limit order: {intent.kind}", code="51000")
        extra: dict[str, Any] = {"postOnly": True} if intent.kind is OrderKind.POST_ONLY else {}
        await self._create(
            intent, intent.side, intent.size_contracts, extra, price=intent.limit_price_usd
        )
        return await self._report_after_placing(intent)

    async def close_position(self, intent: OrderIntent) -> OrderReport:
        position = await self.position(intent.instrument_id)
        if position.size_contracts == 0:
            raise PositionAlreadyClosed(f"no {intent.instrument_id} position to close")
        side = OrderSide.BUY if position.size_contracts < 0 else OrderSide.SELL
        await self._create(intent, side, abs(position.size_contracts), {"reduceOnly": True})
        return await self._report_after_placing(intent)

    async def order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        params = {"clientOrderId": client_order_id}
        return report_of(await self._read("fetch_order", None, instrument_id, params))

    async def open_orders(self, instrument_id: str) -> list[OrderReport]:
        return [report_of(o) for o in await self._read("fetch_open_orders", instrument_id)]

    async def cancel_order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        params = {"clientOrderId": client_order_id}
        try:
            await self._call("cancel_order", (None, instrument_id, params), read=False)
        except OrderRejected as error:
            if isinstance(error, NotFound) or "not exist" in str(error).lower():
                raise NotFound(str(error), code=error.code) from None
            raise
        return await self.order(instrument_id, client_order_id)

    async def position_changes(
        self, instrument_id: str
    ) -> AsyncIterator[VenuePosition | VenueResync]:
        await self.instrument(instrument_id)
        watch = PositionWatch(
            self.client,
            instrument_id,
            unified_position(instrument_id),
            self._settings.ws_silence_seconds,
            self._rng,
        )
        self.watches.append(watch)
        async for change in watch.changes():
            yield change

    async def _create(
        self,
        intent: OrderIntent,
        side: OrderSide,
        size: Decimal,
        extra: dict[str, Any],
        *,
        price: Decimal | None = None,
    ) -> None:
        """A market order, or a limit order at `price`."""
        params = {"clientOrderId": intent.client_order_id} | dict(self.profile.order_params)
        kind = "market" if price is None else "limit"
        limit = None if price is None else float(price)
        arguments = (intent.instrument_id, kind, side.value, float(size), limit, params | extra)
        await self._call("create_order", arguments, read=False)

    async def _report_after_placing(self, intent: OrderIntent) -> OrderReport:
        try:
            return await self.order(intent.instrument_id, intent.client_order_id)
        except (VenueUnavailable, NotFound):
            return OrderReport(intent.client_order_id, "", OrderState.ACCEPTED)

    def _fresh_price(self, instrument_id: str, ticker: Mapping[str, Any]) -> Decimal:
        price = ticker.get("markPrice") or ticker.get("last")
        stamp = ticker.get("timestamp")
        if price is None or stamp is None:
            raise VenueUnavailable(f"{self.name} gave no price for {instrument_id}")
        age_s = (self._clock.now_ms() - int(stamp)) / 1000
        if age_s > self._settings.max_price_age_seconds:
            raise VenueUnavailable(
                f"the price of {instrument_id} is {age_s:.0f} s old: not traded on"
            )
        return _decimal(price)

    async def _read(self, method: str, *arguments: Any) -> Any:
        async def once() -> Any:
            return await self._call(method, arguments, read=True)

        settings = self._settings
        return await with_retries(
            once, settings.retry_attempts, settings.retry_backoff_seconds, self._rng, method
        )

    async def _call(self, method: str, arguments: tuple[Any, ...], *, read: bool) -> Any:
        await self._budget.acquire()
        try:
            # ccxt sets the Decimal context's rounding and traps as it formats numbers; in a
            # context of its own, so that pegkeeper's arithmetic never depends on it
            with decimal.localcontext():
                return await getattr(self.client, method)(*arguments)
        except Exception as error:
            if is_rate_limit(error):
                self._budget.pause()
            raise (read_error(error) if read else placement_error(error)) from None


def make_client(
    profile: CcxtProfile, settings: CcxtVenueSettings, credentials: Mapping[str, str]
) -> Any:
    config: dict[str, Any] = {
        "apiKey": credentials.get("api_key", ""),
        "secret": credentials.get("secret_key", ""),
        "password": credentials.get("passphrase", ""),
        "timeout": int(settings.request_timeout_seconds * 1000),
        "enableRateLimit": True,
        "options": dict(profile.options),
    }
    if settings.ccxt_rate_limit_ms is not None:
        config["rateLimit"] = settings.ccxt_rate_limit_ms
    client = getattr(ccxt.pro, profile.exchange_id)(config)
    if settings.rest_url or settings.ws_url:
        if not profile.overridable_urls:
            raise ValueError(f"{profile.exchange_id}: its URLs cannot be pointed elsewhere here")
        api = client.urls["api"]
        api["rest"] = settings.rest_url.rstrip("/") or api["rest"]
        api["ws"] = settings.ws_url.rstrip("/") or api["ws"]
    return client


def instrument_of(market: Mapping[str, Any]) -> Instrument:
    """An instrument from ccxt's unified market structure (amounts precision as a step)."""
    return Instrument(
        instrument_id=str(market["symbol"]),
        kind=InstrumentKind.SWAP if market.get("swap") else InstrumentKind.FUTURE,
        contract_type=ContractType.INVERSE if market.get("inverse") else ContractType.LINEAR,
        contract_value=_decimal(market["contractSize"]),
        settle_currency=str(market["settle"]),
        lot_size_contracts=_decimal(market["precision"]["amount"]),
        min_size_contracts=_decimal(
            market["limits"]["amount"]["min"] or market["precision"]["amount"]
        ),
        expiry_ms=int(market["expiry"])
        if not market.get("swap") and market.get("expiry")
        else None,
        tick_size_usd=_decimal(market["precision"]["price"]),
    )


def unified_position(symbol: str) -> RowToPosition:
    """Reads ccxt's unified position fields (floats, read back through their text)."""

    def parse(row: dict[str, Any]) -> VenuePosition | None:
        mark = row.get("markPrice")
        contracts = _decimal(row.get("contracts") or 0)
        if row.get("symbol") != symbol or mark is None:
            return None
        sign = -1 if row.get("side") == "short" else 1
        entry = row.get("entryPrice")
        liquidation = row.get("liquidationPrice")
        return VenuePosition(
            instrument_id=symbol,
            size_contracts=sign * contracts,
            avg_price_usd=_decimal(entry) if entry else None,
            mark_price_usd=_decimal(mark),
            liquidation_price_usd=_decimal(liquidation) if liquidation else None,
            unrealised_pnl=_decimal(row.get("unrealizedPnl") or 0),
        )

    return parse


def report_of(order: Mapping[str, Any]) -> OrderReport:
    filled = _decimal(order.get("filled") or 0)
    status = str(order.get("status"))
    state = STATES.get(status)
    if state is None:
        state = OrderState.PARTIALLY_FILLED if filled > 0 else OrderState.ACCEPTED
    average = order.get("average")
    fills: tuple[Fill, ...] = ()
    if state.is_terminal and filled > 0 and average:
        fee = order.get("fee") or {}
        fills = (
            Fill(
                fill_id=f"{order['id']}",
                client_order_id=str(order.get("clientOrderId") or ""),
                size_contracts=filled,
                price_usd=_decimal(average),
                fee=_decimal(fee.get("cost") or 0),
                fee_currency=str(fee.get("currency") or ""),
                ts_ms=int(order.get("lastTradeTimestamp") or order.get("timestamp") or 0),
            ),
        )
    return OrderReport(
        client_order_id=str(order.get("clientOrderId") or ""),
        venue_order_id=str(order.get("id") or ""),
        state=state,
        filled_contracts=filled,
        avg_price_usd=_decimal(average) if average and filled > 0 else None,
        fills=fills,
    )


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))

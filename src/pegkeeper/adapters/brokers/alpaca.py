"""The Alpaca brokers: the Trading API (an individual account) and the Broker API (a managed
account), on alpaca-py's clients pointed at Alpaca's hosts or any other (`base_url`).

Orders (specs/equities.md, "Brokers" and "Market sessions"):
- a market order by quantity, time in force `day`; an extended-hours order is a limit order
  (`extended_hours` true, `day`, the intent's limit price as it is);
- the quantity is truncated to 9 decimals (Alpaca's precision), never rounded up: the one
  rounding at this boundary; one that truncates to 0 is refused before any request;
- the client order id is the intent's: a 422 "client_order_id must be unique" means the id is
  placed already, and that order is looked up and adopted, never sent again under a new id;
- a placement that may have reached Alpaca (timeout, 5xx, dropped connection) raises
  VenueUncertain: the execution core looks the order up by its client id before anything else.

The account's `cash` (not `non_marginable_buying_power`, which leaves out unsettled proceeds)
is what a buy may spend; positions give `qty_available` as what a sell may use.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

from alpaca.broker.client import BrokerClient
from alpaca.common.rest import RESTClient
from alpaca.trading.client import TradingClient

from pegkeeper.adapters.brokers.alpaca_calendar import MarketClock, market_clock, trading_day
from pegkeeper.adapters.brokers.alpaca_config import (
    AlpacaConfig,
    AlpacaMode,
    AlpacaPaths,
    what_keys,
)
from pegkeeper.adapters.brokers.alpaca_http import (
    KEY_ENV_VARS,
    AlpacaBudgets,
    AlpacaHttp,
    Endpoint,
    configure,
    log,
)
from pegkeeper.adapters.brokers.alpaca_states import (
    answer_object,
    decimal_field,
    order_report,
    required_decimal,
)
from pegkeeper.domain.equities.accumulation import FRACTIONAL_DECIMALS, plain
from pegkeeper.domain.equities.broker import (
    BrokerAccount,
    BrokerKind,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
    BrokerOrderType,
    BrokerPosition,
)
from pegkeeper.domain.equities.sessions import TradingDay, check_dates
from pegkeeper.domain.errors import NotFound, OrderRejected, VenueError, VenueUncertain
from pegkeeper.ports import Clock

QUANTITY_STEP = Decimal(1).scaleb(-FRACTIONAL_DECIMALS)  # Alpaca takes quantities to 9 dp
MAX_CLIENT_ORDER_ID = 128  # characters, as Alpaca takes them
REUSED_CLIENT_ID = "client_order_id must be unique"
ACTIVITIES_PAGE_SIZE = 100
ACTIVITIES_MAX_PAGES = 20  # 2 000 executions of one order: beyond that the order's figures
SETTLE_SECONDS = 60.0  # how long an ended order waits for its fill details (alpaca_states)
ZERO = Decimal(0)


class AlpacaBroker:
    kind = BrokerKind.FRACTIONAL

    def __init__(self, config: AlpacaConfig, clock: Clock) -> None:
        if not config.key_id or not config.secret_key:
            raise ValueError(f"the Alpaca {config.mode.value} API needs keys: set {KEY_ENV_VARS}")
        if config.mode is AlpacaMode.BROKER and not config.account_id:
            raise ValueError("the Alpaca Broker API needs alpaca.account_id: the managed account")
        self.name = f"alpaca-{config.mode.value}"
        self.config = config
        self._clock = clock
        self._paths = AlpacaPaths.of(config.mode, config.account_id)
        # the account's per-minute request budget, to share with AlpacaInventory
        self.budgets = AlpacaBudgets(config.requests_per_minute, clock)
        self._http = AlpacaHttp(
            rest_client(config), self.name, what_keys(config), self.budgets, clock
        )
        self._activities_available = True

    def __repr__(self) -> str:
        return f"AlpacaBroker({self.config!r})"

    # -- orders --------------------------------------------------------------------------------

    async def place_order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        body = order_body(intent)
        try:
            answer = await self._http.post(self._paths.orders, body)
        except OrderRejected as error:
            if REUSED_CLIENT_ID not in str(error):
                raise
            return await self._adopt(intent)
        order = _orderanswer_object(answer)
        return await self._report(intent, order, when_placing=True)

    async def order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        order = await self._by_client_id(intent.client_order_id)
        return await self._report(intent, order, when_placing=False)

    async def cancel_order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        order = await self._by_client_id(intent.client_order_id)
        order_id = str(order.get("id"))
        await self._http.delete(f"{self._paths.orders}/{order_id}")
        after = await self._http.get(Endpoint.ORDER, f"{self._paths.orders}/{order_id}")
        return await self._report(intent, _orderanswer_object(after), when_placing=False)

    async def _adopt(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        """The client id is placed already: that order is this intent's (its request went
        through before), unless it is another symbol or side."""
        try:
            order = await self._by_client_id(intent.client_order_id)
        except NotFound:
            raise VenueUncertain(
                f"alpaca says client id {intent.client_order_id} is used, and does not find it"
            ) from None
        if (order.get("symbol"), order.get("side")) != (intent.symbol, intent.side.value):
            raise OrderRejected(
                f"client id {intent.client_order_id} is taken at alpaca by an order to "
                f"{order.get('side')} {order.get('symbol')}, not {intent.side.value} "
                f"{intent.symbol}: nothing was sent"
            )
        log.info("alpaca order adopted", broker=self.name, client_order_id=intent.client_order_id)
        return await self._report(intent, order, when_placing=True)

    async def _by_client_id(self, client_order_id: str) -> dict[str, Any]:
        answer = await self._http.get(
            Endpoint.ORDER,
            f"{self._paths.orders}:by_client_order_id",
            {"client_order_id": client_order_id},
        )
        return _orderanswer_object(answer)

    async def _report(
        self, intent: BrokerOrderIntent, order: dict[str, Any], *, when_placing: bool
    ) -> BrokerOrderReport:
        """The order with its fills. Once an order is placed, a failed read of its activities
        is not an error of the placement: the report says working, the next lookup reads on."""
        activities: list[dict[str, Any]] | None = []
        if decimal_field(order, "filled_qty", ZERO) > 0:
            try:
                activities = await self._fills_of(str(order.get("id")))
            except VenueError as error:
                if not when_placing:
                    raise
                log.warning("alpaca fills not read", order=order.get("id"), error=str(error))
                return BrokerOrderReport(
                    intent.client_order_id,
                    BrokerOrderState.WORKING,
                    str(order.get("id") or ""),
                    message=f"fill details not read yet: {error}",
                )
        return order_report(
            intent.client_order_id, order, activities, self._clock.now_ms(), SETTLE_SECONDS
        )

    async def _fills_of(self, order_id: str) -> list[dict[str, Any]] | None:
        """The order's FILL activities, oldest first; None when the endpoint is unavailable
        for good (it refused or does not exist here)."""
        if not self._activities_available:
            return None
        params = {
            **dict(self._paths.activity_params),
            "order_id": order_id,
            "direction": "asc",
            "page_size": str(ACTIVITIES_PAGE_SIZE),
        }
        found: list[dict[str, Any]] = []
        try:
            for _ in range(ACTIVITIES_MAX_PAGES):
                page = await self._http.get(Endpoint.ACTIVITIES, self._paths.activities, params)
                if not isinstance(page, list):
                    raise VenueUncertain(f"alpaca answered activities that are not a list: {page}")
                found += [item for item in page if isinstance(item, dict)]
                if len(page) < ACTIVITIES_PAGE_SIZE:
                    return found
                params["page_token"] = str(page[-1].get("id"))
        except (NotFound, OrderRejected) as error:
            self._activities_available = False
            log.warning("alpaca activities unavailable; fills from orders", error=str(error))
            return None
        return found

    # -- the account and the market ------------------------------------------------------------

    async def account(self) -> BrokerAccount:
        """`cash` is what a buy may spend. Alpaca names no permission for the extended hours:
        every account that may trade may send their DAY limit orders."""
        answer = answer_object(
            await self._http.get(Endpoint.ACCOUNT, self._paths.account), "account"
        )
        fractional, suspended = await self._configurations()
        status = str(answer.get("status") or "")
        blocked = any(
            answer.get(flag) is True
            for flag in ("trading_blocked", "account_blocked", "trade_suspended_by_user")
        )
        can_trade = status == "ACTIVE" and not blocked and not suspended
        return BrokerAccount(
            broker=self.name,
            account_id=str(answer.get("id") or self.config.account_id),
            cash_usd=required_decimal(answer, "cash"),
            buying_power_usd=decimal_field(answer, "buying_power", ZERO),
            can_trade=can_trade,
            fractional=fractional,
            extended_hours=can_trade,
            status=status,
        )

    async def _configurations(self) -> tuple[bool, bool]:
        """(fractional trading, trading suspended) from the account's configurations; an
        account whose configurations cannot be read keeps Alpaca's defaults (fractional
        trading on, not suspended)."""
        try:
            answer = await self._http.get(Endpoint.ACCOUNT, self._paths.configurations)
        except (NotFound, OrderRejected) as error:
            log.warning("alpaca account configurations unavailable", error=str(error))
            return True, False
        configurations = answer_object(answer, "account configurations")
        return (
            configurations.get("fractional_trading") is not False,
            configurations.get("suspend_trade") is True,
        )

    async def positions(self) -> dict[str, BrokerPosition]:
        """Every position by symbol; `available` is `qty_available` (not held by open orders),
        nothing for a short position."""
        answer = await self._http.get(Endpoint.POSITIONS, self._paths.positions)
        if not isinstance(answer, list):
            raise VenueUncertain(f"alpaca answered positions that are not a list: {answer}")
        held: dict[str, BrokerPosition] = {}
        for item in answer:
            symbol = str(item.get("symbol") or "")
            quantity = required_decimal(item, "qty")
            if item.get("side") == "short" and quantity > 0:
                quantity = -quantity
            available = decimal_field(item, "qty_available", quantity) if quantity > 0 else ZERO
            held[symbol] = BrokerPosition(symbol, quantity, max(available, ZERO))
        return held

    async def trading_days(self, start: date, end: date) -> list[TradingDay]:
        check_dates(start, end)
        answer = await self._http.get(
            Endpoint.CALENDAR, "/calendar", {"start": start.isoformat(), "end": end.isoformat()}
        )
        if not isinstance(answer, list):
            raise VenueUncertain(f"alpaca answered a calendar that is not a list: {answer}")
        days = [trading_day(entry) for entry in answer]
        return sorted((d for d in days if start <= d.day <= end), key=lambda d: d.day)

    async def market_clock(self) -> MarketClock:
        """Alpaca's market clock (not part of the Broker port: for `pegkeeper broker check`)."""
        return market_clock(answer_object(await self._http.get(Endpoint.CLOCK, "/clock"), "clock"))

    async def aclose(self) -> None:
        self._http.close()


def order_body(intent: BrokerOrderIntent) -> dict[str, Any]:
    """The POST body of an order; refuses, before any request, one Alpaca cannot take."""
    quantity = intent.quantity.quantize(QUANTITY_STEP, rounding=ROUND_DOWN)
    if quantity <= 0:
        raise OrderRejected(
            f"{intent.symbol}: quantity {intent.quantity:f} truncates to {quantity:f} at "
            "Alpaca's 9 decimals: expected at least 0.000000001 share; nothing was sent"
        )
    if not intent.client_order_id or len(intent.client_order_id) > MAX_CLIENT_ORDER_ID:
        raise OrderRejected(
            f"client order id {intent.client_order_id!r}: expected 1 to {MAX_CLIENT_ORDER_ID} "
            "characters; nothing was sent"
        )
    body: dict[str, Any] = {
        "symbol": intent.symbol,
        "qty": plain(quantity),
        "side": intent.side.value,
        "type": intent.order_type.value,
        "time_in_force": "day",
        "client_order_id": intent.client_order_id,
    }
    if intent.order_type is BrokerOrderType.LIMIT:
        limit = intent.limit_price_usd
        if limit is None or not limit.is_finite() or limit <= 0:
            raise OrderRejected(
                f"{intent.symbol}: a limit order needs a positive limit_price_usd, got {limit}; "
                "nothing was sent"
            )
        body["limit_price"] = plain(limit)
        body["extended_hours"] = intent.extended_hours
    elif intent.extended_hours:
        raise OrderRejected(
            f"{intent.symbol}: the extended hours take limit orders only (Alpaca: DAY limit "
            "orders); nothing was sent"
        )
    return body


def _orderanswer_object(answer: Any) -> dict[str, Any]:
    order = answer_object(answer, "order")
    if not order.get("id") or not order.get("status"):
        raise VenueUncertain(f"alpaca answered an order without id or status: {order}")
    return order


def rest_client(config: AlpacaConfig) -> RESTClient:
    """alpaca-py's client for the config's API, raw answers, with the request timeout."""
    client: RESTClient
    if config.mode is AlpacaMode.TRADING:
        client = TradingClient(
            config.key_id,
            config.secret_key,
            paper=config.paper,
            raw_data=True,
            url_override=config.host(),
        )
    else:
        client = BrokerClient(
            config.key_id,
            config.secret_key,
            sandbox=config.paper,
            raw_data=True,
            url_override=config.host(),
        )
    configure(client, config.request_timeout_seconds)
    return client


# -- building from the settings (bootstrap passes EquitiesSettings) --------------------------


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class _AlpacaSection(Protocol):
    @property
    def paper(self) -> bool: ...
    @property
    def base_url(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def key_id(self) -> _Secret: ...
    @property
    def secret_key(self) -> _Secret: ...
    @property
    def requests_per_minute(self) -> int: ...
    @property
    def request_timeout_seconds(self) -> float: ...


class _EquitiesSection(Protocol):
    """What of config.equities.EquitiesSettings the factory reads (adapters do not import
    config: the layers allow only the other way)."""

    @property
    def broker(self) -> str: ...
    @property
    def alpaca(self) -> _AlpacaSection: ...


MODES = {"alpaca-trading": AlpacaMode.TRADING, "alpaca-broker": AlpacaMode.BROKER}


def build_alpaca(equities: _EquitiesSection, clock: Clock) -> AlpacaBroker:
    """The Alpaca broker `[equities] broker` names ("alpaca-trading" or "alpaca-broker"), on
    `alpaca.base_url` when set, else Alpaca's paper / live (Trading API) or sandbox / live
    (Broker API) host by `alpaca.paper`."""
    return AlpacaBroker(alpaca_config(equities), clock)


def alpaca_config(equities: _EquitiesSection) -> AlpacaConfig:
    mode = MODES.get(equities.broker)
    if mode is None:
        raise ValueError(
            f"build_alpaca: broker {equities.broker!r} is not an Alpaca broker; expected "
            "alpaca-trading or alpaca-broker"
        )
    section = equities.alpaca
    return AlpacaConfig(
        mode=mode,
        paper=section.paper,
        base_url=section.base_url,
        account_id=section.account_id,
        key_id=section.key_id.get_secret_value(),
        secret_key=section.secret_key.get_secret_value(),
        requests_per_minute=section.requests_per_minute,
        request_timeout_seconds=section.request_timeout_seconds,
    )

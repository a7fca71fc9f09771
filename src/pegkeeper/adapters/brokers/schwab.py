"""The Charles Schwab Trader API as the Broker port (specs/equities.md, "Brokers"): whole shares,
orders without a client id, statuses and fills as `schwab_orders` reads them, the login as
`schwab_oauth` keeps it, requests and their failures as `schwab_http` sends and sorts them.

Orders have no client id at Schwab, so the broker order id from the POST's `Location` is kept
in memory by client order id. `order(intent)` reads the order by that id when this process
placed it; otherwise (a POST whose answer was lost, a restart) it looks among the account's
orders entered since the intent was made for one of the same symbol, side and quantity, not
already known as another intent's, and takes the earliest (NotFound when there is none): an
order the operator entered by hand with the same symbol, side and quantity within seconds of a
lost hedge would be taken for it.

`trading_days` asks Schwab's market hours one date per request (the endpoint answers one
date, from today to a year ahead), skips Saturdays and Sundays without asking, and keeps each
answer for an hour.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Protocol

import httpx

from pegkeeper.adapters.brokers.schwab_http import SchwabHttp, request_budget
from pegkeeper.adapters.brokers.schwab_oauth import (
    DEFAULT_BASE_URL,
    SchwabApp,
    SchwabLogin,
    SchwabOAuth,
)
from pegkeeper.adapters.brokers.schwab_orders import (
    BROKER,
    OrderSummary,
    account_of,
    matching_order,
    order_body,
    order_id_from_location,
    positions_of,
    report_of,
    summary_of,
    trading_day_of,
    wire_time,
)
from pegkeeper.domain.equities.broker import (
    BrokerAccount,
    BrokerKind,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
    BrokerPosition,
    masked_account,
)
from pegkeeper.domain.equities.sessions import MS_PER_DAY, TradingDay
from pegkeeper.domain.errors import (
    CredentialsRejected,
    InvalidInput,
    NotFound,
    VenueError,
    VenueMisconfigured,
    VenueUncertain,
)
from pegkeeper.ports import Clock, TokenStore

# An order is entered after its intent was made; Schwab's times are whole seconds, and its
# clock may differ a little from ours.
MATCH_SKEW_MS = 2_000
RECENT_ORDERS_DAYS = 59  # Schwab lists orders entered within the last 60 days
CALENDAR_KEEP_MS = 3_600_000
# order ids kept by client id: far more than the orders of the matching window (seconds)
KEPT_ORDER_IDS = 10_000
ACCOUNT_NUMBERS = "/trader/v1/accounts/accountNumbers"


class Secret(Protocol):
    def get_secret_value(self) -> str: ...


class SchwabOptions(Protocol):
    """What the broker reads of `[equities.schwab]` (config.equities.SchwabSettings has it)."""

    @property
    def base_url(self) -> str: ...
    @property
    def account_number(self) -> str: ...
    @property
    def redirect_uri(self) -> str: ...
    @property
    def app_key(self) -> Secret: ...
    @property
    def app_secret(self) -> Secret: ...
    @property
    def requests_per_minute(self) -> int: ...
    @property
    def request_timeout_seconds(self) -> float: ...


def schwab_app(options: SchwabOptions) -> SchwabApp:
    return SchwabApp(
        app_key=options.app_key.get_secret_value(),
        app_secret=options.app_secret.get_secret_value(),
        redirect_uri=options.redirect_uri,
        base_url=options.base_url.rstrip("/") or DEFAULT_BASE_URL,
    )


def build_schwab(options: SchwabOptions, tokens: TokenStore, clock: Clock) -> SchwabBroker:
    """The broker of `[equities.schwab]`, its login in `tokens`. Raises CredentialsRejected
    when the app key or secret is not set."""
    app = schwab_app(options)
    http = httpx.AsyncClient(
        base_url=app.base_url,
        timeout=options.request_timeout_seconds,
        headers={"Accept": "application/json"},
    )
    login = SchwabLogin(SchwabOAuth(app, http, clock), tokens, clock)
    api = SchwabHttp(http, login, request_budget(options.requests_per_minute, clock), clock)
    return SchwabBroker(api, login, clock, account_number=options.account_number)


class SchwabBroker:
    name = BROKER
    kind = BrokerKind.WHOLE_SHARES

    def __init__(
        self, api: SchwabHttp, login: SchwabLogin, clock: Clock, *, account_number: str = ""
    ) -> None:
        self._api = api
        self._login = login
        self._clock = clock
        self._wanted_account = account_number
        self._account: tuple[str, str] | None = None  # (number, hash)
        self._order_ids: dict[str, str] = {}  # client order id -> Schwab's order id
        self._days: dict[date, tuple[int, TradingDay | None]] = {}  # day -> (read at, day)

    async def login_expires_at_ms(self) -> int | None:
        """When the stored login ends (unix ms; None when there is none): alert a day ahead."""
        return await self._login.refresh_expires_at_ms()

    # -- orders ----------------------------------------------------------------------------------

    async def place_order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        """CredentialsRejected and VenueUnavailable mean the order was not placed (the login
        or the request was refused before Schwab took it); VenueUncertain that it may be."""
        body = order_body(intent)  # refuses what Schwab cannot take before anything is sent
        orders = await self._orders_path()
        response = await self._api.post_order(orders, body)
        order_id = order_id_from_location(response.headers.get("Location"))
        if not order_id:
            raise VenueUncertain(
                f"{BROKER}: the order was taken ({response.status_code}) without an id"
            )
        self._remember(intent.client_order_id, order_id)
        try:
            return report_of(intent.client_order_id, await self._api.get(f"{orders}/{order_id}"))
        except (VenueError, VenueMisconfigured) as error:  # placed: read at the next lookup
            return BrokerOrderReport(
                intent.client_order_id,
                BrokerOrderState.WORKING,
                order_id,
                message=f"placed; state not read yet: {error}",
            )

    async def order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        order_id = self._order_ids.get(intent.client_order_id) or await self._find(intent)
        orders = await self._orders_path()
        return report_of(intent.client_order_id, await self._api.get(f"{orders}/{order_id}"))

    async def cancel_order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        """Asks for the cancel and reads the order back (CANCELED with any partial fill, or
        still working while Schwab cancels). OrderRejected when it has ended already."""
        order_id = self._order_ids.get(intent.client_order_id) or await self._find(intent)
        orders = await self._orders_path()
        await self._api.delete(f"{orders}/{order_id}")
        return report_of(intent.client_order_id, await self._api.get(f"{orders}/{order_id}"))

    async def _find(self, intent: BrokerOrderIntent) -> str:
        not_before_ms = intent.created_at_ms // 1000 * 1000 - MATCH_SKEW_MS
        recent = await self._recent_orders(not_before_ms)
        taken = {v for k, v in self._order_ids.items() if k != intent.client_order_id}
        found = matching_order(recent, intent, not_before_ms=not_before_ms, taken=taken)
        if found is None:
            raise NotFound(
                f"{BROKER}: no order {intent.side.value} {intent.quantity} {intent.symbol} "
                f"entered since the intent {intent.client_order_id} was made",
                code="404",
            )
        self._remember(intent.client_order_id, found.order_id)
        return found.order_id

    def _remember(self, client_order_id: str, order_id: str) -> None:
        self._order_ids[client_order_id] = order_id
        if len(self._order_ids) > KEPT_ORDER_IDS:  # the oldest: long out of any lookup's window
            del self._order_ids[next(iter(self._order_ids))]

    async def _recent_orders(self, from_ms: int) -> list[OrderSummary]:
        now_ms = self._clock.now_ms()
        from_ms = max(from_ms, now_ms - RECENT_ORDERS_DAYS * MS_PER_DAY)
        params = {
            "fromEnteredTime": wire_time(from_ms),
            "toEnteredTime": wire_time(now_ms + MATCH_SKEW_MS),
        }
        answer = await self._api.get(await self._orders_path(), params)
        orders = answer if isinstance(answer, list) else []
        return [s for s in (summary_of(o) for o in orders) if s is not None]

    # -- the account -----------------------------------------------------------------------------

    async def account(self) -> BrokerAccount:
        number, account_hash = await self._account_ids()
        return account_of(number, await self._api.get(f"/trader/v1/accounts/{account_hash}"))

    async def positions(self) -> dict[str, BrokerPosition]:
        """Every position; the shares reserved are those of the open sell orders among the
        orders entered in the last 59 days (Schwab lists 60 days at most)."""
        _, account_hash = await self._account_ids()
        answer = await self._api.get(f"/trader/v1/accounts/{account_hash}", {"fields": "positions"})
        open_orders = await self._recent_orders(0)
        return positions_of(answer, open_orders)

    async def login_accounts(self) -> list[str]:
        """The numbers of every account the login sees (show them masked)."""
        return [n for n, _ in _account_pairs(await self._api.get(ACCOUNT_NUMBERS))]

    async def _orders_path(self) -> str:
        _, account_hash = await self._account_ids()
        return f"/trader/v1/accounts/{account_hash}/orders"

    async def _account_ids(self) -> tuple[str, str]:
        if self._account is None:
            answer = await self._api.get(ACCOUNT_NUMBERS)
            self._account = _chosen_account(answer, self._wanted_account)
        return self._account

    # -- the market's calendar -------------------------------------------------------------------

    async def trading_days(self, start: date, end: date) -> list[TradingDay]:
        if start > end:
            raise InvalidInput(f"start {start} is after end {end}: expected start <= end")
        days = []
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            found = None if day.weekday() >= 5 else await self._trading_day(day)
            if found is not None:
                days.append(found)
        return days

    async def _trading_day(self, day: date) -> TradingDay | None:
        now_ms = self._clock.monotonic_ms()
        kept = self._days.get(day)
        if kept is not None and now_ms - kept[0] < CALENDAR_KEEP_MS:
            return kept[1]
        answer = await self._api.get(
            "/marketdata/v1/markets", {"markets": "equity", "date": day.isoformat()}
        )
        found = trading_day_of(day, answer)
        self._days[day] = (now_ms, found)
        return found

    async def aclose(self) -> None:
        await self._api.aclose()


def _account_pairs(answer: object) -> list[tuple[str, str]]:
    """(number, hash) of each account in `accountNumbers`' answer."""
    return [
        (str(a.get("accountNumber", "")), str(a.get("hashValue", "")))
        for a in (answer if isinstance(answer, list) else [])
        if isinstance(a, dict)
    ]


def _chosen_account(answer: object, wanted: str) -> tuple[str, str]:
    """(number, hash) of the configured account, or of the login's only one. CredentialsRejected
    otherwise: the login as configured cannot hedge, and only the operator can change that."""
    pairs = _account_pairs(answer)
    shown = ", ".join(masked_account(number) for number, _ in pairs) or "none"
    if wanted:
        for number, account_hash in pairs:
            if number == wanted:
                return number, account_hash
        raise CredentialsRejected(
            f"{BROKER}: account {masked_account(wanted)} is not among the login's accounts "
            f"({shown}); set [equities.schwab] account_number to one of them, or log in as "
            "its owner with `pegkeeper auth schwab`"
        )
    if len(pairs) == 1:
        return pairs[0]
    if not pairs:
        raise CredentialsRejected(f"{BROKER}: the login sees no account to trade in")
    raise CredentialsRejected(
        f"{BROKER}: the login sees {len(pairs)} accounts ({shown}): set [equities.schwab] "
        "account_number to the one to hedge in"
    )

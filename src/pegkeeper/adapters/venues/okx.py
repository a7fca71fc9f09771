"""OKX through ccxt's async client: the `Venue` port and the funding calls beyond it.

Requests go through ccxt's implicit OKX API (the /api/v5 endpoints themselves, signed by ccxt,
errors mapped by ccxt, paced per endpoint at ccxt's costs by EndpointBudgets), so every parameter
is OKX's own and every number comes back as the string OKX sent. Pointed at OKX or at
`pegkeeper sim-exchange`: only the URLs differ.

Safety rules kept here:
- orders carry pegkeeper's client id; a request that may have gone through raises
  VenueUncertain and is never repeated (the caller looks the id up); reads are retried with
  backoff and jitter;
- order requests carry OKX's `expTime` header, `order_expiry_seconds` of real time after they
  are signed: OKX refuses one that arrives later (not executed: VenueUnavailable), so a request
  of a paused lease holder cannot be executed after its lease was taken over (okx_client);
- a position is read with the mark price, and refused (VenueUnavailable) when the mark price
  is older than `max_price_age_seconds`, or when OKX lists no position while the account's
  margin says there is one: a position read as zero must not double the hedge;
- at start the account must be in net position mode, at the configured account level and
  leverage; otherwise `start` refuses with a message that says what to change.

Reads from pushes (okx_stream): while `position_changes` runs, the private WebSocket's
`positions` and `account` channels and the public `mark-price` channel are kept, and
`position` and `balances` answer from them instead of REST when they are fresh. A pushed value
is used only if it came after the last interruption of the stream (a closed or failed socket, a
silence: a VenueResync), less than `min(ws_fresh_seconds, ws_silence_seconds)` ago, and
reflects every fill the adapter's order lookups returned: a position whose tradeId (else uTime)
is not before the latest known fill's, a balance whose uTime is not before it. After an order
filled, a read waits up to `fill_push_wait_seconds` for OKX's push of that fill, then reads
REST. A pushed flat position is used only while a pushed balance shows no margin in use (else
REST, with the rule above); a pushed mark price older than `max_price_age_seconds` sends the
read to REST, which refuses it. The funding account is not pushed by OKX: its balance is read
over REST and kept `funding_balance_max_age_seconds`, forgotten at every funding-account call
(transfers, withdrawals, deposit history). On the normal path one hedge order then costs the
order itself, its lookup and its fills: three REST requests.
"""

from __future__ import annotations

import asyncio
import decimal
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog

from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.feeds.okx_ws import backoff_seconds
from pegkeeper.adapters.pacing import RequestBudget
from pegkeeper.adapters.venues import okx_parse as parse
from pegkeeper.adapters.venues.ccxt_support import (
    NOT_FOUND_CODES,
    EndpointBudgets,
    all_or_none,
    is_rate_limit,
    placement_error,
    quiet_ccxt_logs,
    read_error,
    with_retries,
)
from pegkeeper.adapters.venues.okx_client import expiring, make_client
from pegkeeper.adapters.venues.okx_funding import OkxFunding, one_row
from pegkeeper.adapters.venues.okx_stream import OkxPushes
from pegkeeper.adapters.venues.position_watch import PositionWatch, okx_position
from pegkeeper.domain.errors import (
    NotFound,
    OrderRejected,
    VenueMisconfigured,
    VenueUnavailable,
    VenueUncertain,
)
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderReport
from pegkeeper.domain.venue import (
    AccountConfig,
    VenueBalances,
    VenuePosition,
    VenueResync,
)
from pegkeeper.ports import Clock

log = structlog.get_logger("pegkeeper.venues.okx")

Json = Mapping[str, Any]


@dataclass(frozen=True)
class OkxCredentials:
    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    passphrase: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class OkxVenueSettings:
    rest_url: str = ""  # empty: OKX's own
    ws_url: str = ""  # the base before /public and /private; empty: OKX's own
    demo_trading: bool = False
    instrument_ids: tuple[str, ...] = ("BTC-USD-SWAP",)  # checked at start
    leverage: int = 4
    account_level: int = 2
    request_timeout_seconds: float = 10.0
    order_expiry_seconds: float = 5.0  # OKX refuses an order request arriving later (expTime)
    retry_attempts: int = 3
    retry_backoff_seconds: float = 0.2
    burst_requests: int = 20
    burst_refill_per_second: float = 10.0
    rate_limit_pause_seconds: float = 2.0
    max_price_age_seconds: float = 60.0
    ws_silence_seconds: float = 30.0
    ccxt_rate_limit_ms: int | None = None  # the unit of ccxt's cost table; None: ccxt's (110)
    ws_fresh_seconds: float = 10.0  # pushes older than this (or ws_silence_seconds) are not used
    fill_push_wait_seconds: float = 0.5  # for the push that carries a fill, then REST
    funding_balance_max_age_seconds: float = 30.0


class OkxVenue:
    name = "okx"

    def __init__(
        self,
        settings: OkxVenueSettings,
        credentials: OkxCredentials,
        clock: Clock,
        rng: random.Random | None = None,
        *,
        request_clock: Clock | None = None,
    ) -> None:
        """`request_clock`: the time of the requests' expTime headers, real time by default
        whatever `clock` is (OKX compares them with its own clock, as the simulator does)."""
        quiet_ccxt_logs()
        self._settings = settings
        self._clock = clock
        self._request_clock = request_clock or RealClock()
        self._rng = rng or random.Random()
        self._client = make_client(settings, credentials)
        self._budget = EndpointBudgets(
            self._client,
            RequestBudget(
                settings.burst_requests,
                settings.burst_refill_per_second,
                settings.rate_limit_pause_seconds,
                self._rng,
            ),
        )
        self._instruments: dict[str, Instrument] = {}
        self.watches: list[PositionWatch] = []
        self.pushes = OkxPushes(
            min(settings.ws_fresh_seconds, settings.ws_silence_seconds),
            settings.fill_push_wait_seconds,
        )
        self.pushes.tap(self._client)
        self._funding_rows: dict[str, tuple[Json | None, float]] = {}
        self._funding_generation = 0
        self.funding = OkxFunding(self._funding_read, self._funding_write)

    @property
    def rest_url(self) -> str:
        """Where the REST requests go (OKX's own address unless `rest_url` was set)."""
        return str(self._client.urls["api"]["rest"])

    # -- start and stop ------------------------------------------------------------------------

    async def start(self) -> AccountConfig:
        """Loads OKX's instruments and checks the account; raises VenueMisconfigured with what
        to change, or VenueUnavailable when OKX cannot be reached."""
        try:
            await self._client.load_markets()
        except Exception as error:
            raise read_error(error) from None
        for inst_id in self._settings.instrument_ids:
            await self.instrument(inst_id)
        return await self.check_account()

    async def check_account(self) -> AccountConfig:
        rows = await self._read("private_get_account_config", {})
        config = parse.account_config(one_row(rows, "account config"))
        problems = []
        if config.position_mode != "net_mode":
            problems.append(
                f"the position mode is {config.position_mode}: switch it to one-way (net_mode) "
                "in OKX's trading settings (POST /api/v5/account/set-position-mode)"
            )
        wanted_level = self._settings.account_level
        if config.account_level != wanted_level:
            problems.append(
                f"the account level (acctLv) is {config.account_level}: set it to "
                f"{wanted_level} (single-currency margin) in OKX's account mode settings"
            )
        for inst_id in self._settings.instrument_ids:
            problems += await self._leverage_problems(inst_id)
        if problems:
            raise VenueMisconfigured(
                "pegkeeper will not trade on this OKX account: " + "; ".join(problems)
            )
        return config

    async def close(self) -> None:
        """Closes the HTTP session and the WebSockets; a socket that will not close in 5 s is
        abandoned rather than waited for."""
        try:
            async with asyncio.timeout(5):
                await self._client.close()
        except (TimeoutError, OSError) as error:
            log.warning("venue did not close cleanly", venue=self.name, error=str(error))

    # -- the Venue port ------------------------------------------------------------------------

    async def instrument(self, instrument_id: str) -> Instrument:
        found = self._instruments.get(instrument_id)
        if found is None:
            if self._client.markets is None:
                await self._client.load_markets()
            market = self._client.markets_by_id.get(instrument_id)
            if not market:
                raise NotFound(f"OKX has no instrument {instrument_id}", code="51001")
            found = parse.instrument(market[0]["info"])
            self._instruments[instrument_id] = found
        return found

    async def position(self, instrument_id: str) -> VenuePosition:
        instrument = await self.instrument(instrument_id)
        pushed = await self._pushed_position(instrument)
        if pushed is not None:
            return parse.position(instrument_id, pushed, await self._mark_price(instrument_id))
        rows, mark_price_usd = await all_or_none(
            self._read("private_get_account_positions", {}),
            self._mark_price(instrument_id),
        )
        row = next((r for r in rows if r.get("instId") == instrument_id), None)
        if not rows:
            detail = await self._balance_detail(instrument.settle_currency)
            if parse.margin_in_use(detail):
                raise VenueUnavailable(
                    "OKX listed no position while the account's margin shows one "
                    f"({instrument.settle_currency} imr {detail.get('imr') if detail else ''}): "
                    "not trusted"
                )
        return parse.position(instrument_id, row, mark_price_usd)

    async def balances(self, currency: str) -> VenueBalances:
        detail, funding_row = await all_or_none(
            self._trading_detail(currency), self._funding_row(currency)
        )
        return parse.balances(currency, detail, funding_row)

    async def place_market_order(self, intent: OrderIntent) -> OrderReport:
        if intent.kind is not OrderKind.MARKET or intent.side is None:
            raise OrderRejected(f"not a market order: {intent.kind}", code="51000")
        return await self._place(intent, {"ordType": "market"})

    async def place_limit_order(self, intent: OrderIntent) -> OrderReport:
        """A limit or post-only order at `intent.limit_price_usd`."""
        if not intent.kind.has_limit_price or intent.limit_price_usd is None:
            raise OrderRejected(f"not a limit order: {intent.kind}", code="51000")
        extra = {"ordType": intent.kind.value, "px": parse.number_text(intent.limit_price_usd)}
        return await self._place(intent, extra)

    async def close_position(self, intent: OrderIntent) -> OrderReport:
        """With no position to close OKX answers 51023, raised as PositionAlreadyClosed."""
        body = {
            "instId": intent.instrument_id,
            "mgnMode": "cross",
            "posSide": "net",
            "clOrdId": intent.client_order_id,
        }
        await self._write_expiring("private_post_trade_close_position", body)
        return await self._report_after_placing(intent)

    async def order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        params = {"instId": instrument_id, "clOrdId": client_order_id}
        row = one_row(await self._read("private_get_trade_order", params), "order")
        fills: list[Any] = []
        if parse.decimal(row.get("accFillSz") or "0", "accFillSz") > 0:
            rows = await self._read(
                "private_get_trade_fills", {"instId": instrument_id, "ordId": row["ordId"]}
            )
            fills = [parse.fill(r) for r in rows if r.get("ordId") == row["ordId"]]
            self.pushes.note_fill(
                instrument_id, str(row.get("tradeId") or ""), parse.millis(row.get("fillTime"))
            )
            for found in fills:
                self.pushes.note_fill(instrument_id, found.fill_id, found.ts_ms)
        return parse.order(row, fills)

    async def open_orders(self, instrument_id: str) -> list[OrderReport]:
        rows = await self._read("private_get_trade_orders_pending", {"instId": instrument_id})
        return [parse.order(row, []) for row in rows]

    async def cancel_order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        body = {"instId": instrument_id, "clOrdId": client_order_id}
        try:
            await self._write("private_post_trade_cancel_order", body)
        except OrderRejected as error:
            if error.code in NOT_FOUND_CODES:
                raise NotFound(str(error), code=error.code) from None
            raise
        return await self.order(instrument_id, client_order_id)

    async def position_changes(
        self, instrument_id: str
    ) -> AsyncIterator[VenuePosition | VenueResync]:
        await self.instrument(instrument_id)
        symbol = self._client.markets_by_id[instrument_id][0]["symbol"]
        watch = PositionWatch(
            self._client,
            symbol,
            okx_position(instrument_id),
            self._settings.ws_silence_seconds,
            self._rng,
            on_interrupt=self.pushes.interrupt,
        )
        self.watches.append(watch)
        keepers = [
            asyncio.create_task(self._keep_subscribed(self._client.watch_balance, "account")),
            asyncio.create_task(
                self._keep_subscribed(lambda: self._client.watch_mark_price(symbol), "mark-price")
            ),
        ]
        try:
            async for change in watch.changes():
                yield change
        finally:
            for task in keepers:
                task.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)

    # -- internals -----------------------------------------------------------------------------

    async def _place(self, intent: OrderIntent, extra: dict[str, str]) -> OrderReport:
        assert intent.side is not None
        body = {
            "instId": intent.instrument_id,
            "tdMode": "cross",
            "side": intent.side.value,
            "posSide": "net",
            "sz": parse.number_text(intent.size_contracts),
            "clOrdId": intent.client_order_id,
        } | extra
        await self._write_expiring("private_post_trade_order", body)
        return await self._report_after_placing(intent)

    async def _report_after_placing(self, intent: OrderIntent) -> OrderReport:
        """OKX acknowledged the order: what became of it (a market order is filled at once)."""
        try:
            return await self.order(intent.instrument_id, intent.client_order_id)
        except (VenueUnavailable, NotFound) as error:
            log.info(
                "order placed, state not read yet", order=intent.client_order_id, error=str(error)
            )
            return OrderReport(intent.client_order_id, "", parse.ORDER_STATES["live"])

    async def _pushed_position(self, instrument: Instrument) -> Json | None:
        row = await self.pushes.position(instrument.instrument_id)
        if row is None or parse.decimal(row.get("pos") or "0", "pos") != 0:
            return row
        # flat: trusted only while the margin says so too; else REST, which refuses it
        detail = self.pushes.balance_now(instrument.settle_currency)
        return row if detail is not None and not parse.margin_in_use(detail) else None

    async def _trading_detail(self, currency: str) -> Json | None:
        pushed = await self.pushes.balance(currency)
        return pushed if pushed is not None else await self._balance_detail(currency)

    async def _funding_row(self, currency: str) -> Json | None:
        """The funding account's balance: OKX pushes none, so the last REST answer is kept a
        while; any funding-account call forgets it."""
        kept = self._funding_rows.get(currency)
        max_age_s = self._settings.funding_balance_max_age_seconds
        if kept is not None and time.monotonic() - kept[1] <= max_age_s:
            return kept[0]
        generation = self._funding_generation
        rows = await self._read("private_get_asset_balances", {"ccy": currency})
        row = next((r for r in rows if r.get("ccy") == currency), None)
        if generation == self._funding_generation:  # no funding call overtook this read
            self._funding_rows[currency] = (row, time.monotonic())
        return row

    def _forget_funding(self) -> None:
        self._funding_generation += 1
        self._funding_rows.clear()

    async def _funding_read(self, method: str, params: dict[str, str]) -> list[Json]:
        if "_asset_" in method:
            self._forget_funding()
        return await self._read(method, params)

    async def _funding_write(self, method: str, body: dict[str, str]) -> list[Json]:
        self._forget_funding()
        self.pushes.forget_balances()
        try:
            return await self._write(method, body)
        finally:
            self._forget_funding()
            self.pushes.forget_balances()

    async def _keep_subscribed(self, watch: Any, channel: str) -> None:
        """Keeps a channel subscribed for its pushes (okx_stream reads them as they come);
        after a failure, subscribes again after a backoff. The private socket's reconnections
        are PositionWatch's."""
        failures = 0
        while True:
            try:
                await watch()
                failures = 0
                continue
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
            except Exception as error:  # ccxt's network and parse errors alike
                log.info("okx channel subscribed again", channel=channel, error=str(error))
            failures += 1
            await asyncio.sleep(backoff_seconds(failures - 1, 0.5, 30.0, self._rng))

    async def _mark_price(self, instrument_id: str) -> Decimal:
        pushed = self.pushes.mark(instrument_id)
        if pushed is not None and pushed.get("markPx") and parse.millis(pushed.get("ts")):
            age_s = (self._clock.now_ms() - parse.millis(pushed.get("ts"))) / 1000
            if age_s <= self._settings.max_price_age_seconds:
                return parse.decimal(pushed["markPx"], "markPx")
        instrument = await self.instrument(instrument_id)
        inst_type = "SWAP" if instrument.has_funding else "FUTURES"
        params = {"instType": inst_type, "instId": instrument_id}
        row = one_row(await self._read("public_get_public_mark_price", params), "mark price")
        age_s = (self._clock.now_ms() - int(row["ts"])) / 1000
        if age_s > self._settings.max_price_age_seconds:
            raise VenueUnavailable(
                f"the mark price of {instrument_id} is {age_s:.0f} s old "
                f"(more than {self._settings.max_price_age_seconds:g} s): not traded on"
            )
        return parse.decimal(row["markPx"], "markPx")

    async def _balance_detail(self, currency: str) -> Json | None:
        rows = await self._read("private_get_account_balance", {"ccy": currency})
        account = one_row(rows, "balance")
        details = account.get("details") or []
        return next((d for d in details if d.get("ccy") == currency), None)

    async def _leverage_problems(self, inst_id: str) -> list[str]:
        params = {"instId": inst_id, "mgnMode": "cross"}
        rows = await self._read("private_get_account_leverage_info", params)
        wanted = Decimal(self._settings.leverage)
        levers = {parse.decimal(r["lever"], "lever") for r in rows}
        if levers == {wanted}:
            return []
        shown = ", ".join(sorted(str(v) for v in levers)) or "unknown"
        return [
            f"the cross leverage of {inst_id} is {shown}: set it to {wanted} "
            f"(POST /api/v5/account/set-leverage instId={inst_id} lever={wanted} mgnMode=cross)"
        ]

    async def _read(self, method: str, params: dict[str, str]) -> list[Json]:
        async def once() -> list[Json]:
            return await self._call(method, params, read=True)

        settings = self._settings
        return await with_retries(
            once, settings.retry_attempts, settings.retry_backoff_seconds, self._rng, method
        )

    async def _write(self, method: str, body: dict[str, str]) -> list[Json]:
        return await self._call(method, body, read=False)

    async def _write_expiring(self, method: str, body: dict[str, str]) -> list[Json]:
        """An order request OKX refuses once `order_expiry_seconds` have passed since it was
        signed (expTime); an expired one raises VenueUnavailable: not executed."""
        with expiring(self._order_deadline_ms):
            return await self._write(method, body)

    def _order_deadline_ms(self) -> int:
        expiry_ms = round(self._settings.order_expiry_seconds * 1000)
        return self._request_clock.now_ms() + expiry_ms

    async def _call(self, method: str, params: dict[str, str], *, read: bool) -> list[Json]:
        await self._budget.acquire(method)
        try:
            # ccxt sets the Decimal context's rounding and traps as it formats numbers; in a
            # context of its own, so that pegkeeper's arithmetic never depends on it
            with decimal.localcontext():
                response = await getattr(self._client, method)(params)
        except Exception as error:
            if is_rate_limit(error):
                self._budget.pause()
            raise (read_error(error) if read else placement_error(error)) from None
        data = response.get("data") if isinstance(response, dict) else None
        if not isinstance(data, list):
            message = f"OKX answered {method} without a data list"
            raise VenueUnavailable(message) if read else VenueUncertain(message)
        return data

"""The venue the hedger trades on, and the clock the rest of the runtime keeps.

- `[venue] kind = "okx"` with credentials in the environment: OKX through ccxt, real time.
- `kind = "okx"` without credentials: the OKX simulator (`pegkeeper sim-exchange`) starts
  in-process on a free local port and the same OKX adapter is pointed at it, so the demo runs
  the real adapter code on simulated time.
- `kind = "ccxt"`: another exchange through ccxt's unified API (credentials required).
- `kind = "sim"`: the simulated engine in-process, no wire at all.

Trading real money on simulated users is refused: with a real exchange, `[demo]` must be off.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import structlog

from pegkeeper.adapters.clock import RealClock, ScaledClock
from pegkeeper.adapters.venues.ccxt_venue import PROFILES, CcxtVenue, CcxtVenueSettings
from pegkeeper.adapters.venues.okx import OkxCredentials, OkxVenue, OkxVenueSettings
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.config import Settings, VenueSettings
from pegkeeper.domain.errors import NotFound, VenueMisconfigured
from pegkeeper.domain.instruments import BTC_USD_SWAP
from pegkeeper.ports import Clock, Venue
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.okx_server.auth import Credentials
from pegkeeper.sim.okx_server.runner import SimExchange, SimExchangeSettings
from pegkeeper.sim.player import PricePlayer
from pegkeeper.sim.price_path import PriceTick, bundled_demo_path, load_price_path

log = structlog.get_logger("pegkeeper")

# The in-process simulator is on this machine: ccxt need not pace requests as for OKX.
LOCAL_RATE_LIMIT_MS = 5

Job = Callable[[], Awaitable[object]]


@dataclass
class VenueSetup:
    venue: Venue
    clock: Clock
    description: str
    simulated: bool  # prices come from the bundled path on simulated time
    network: bool = False  # requests cross a socket (the lookup window is about that)
    start: Job | None = None  # account checks: before the hedger trades
    prices: Job | None = None  # plays the price path, as long as the runtime runs
    closers: list[Job] = field(default_factory=list)


def price_ticks(settings: Settings) -> list[PriceTick]:
    path = Path(settings.sim.price_path) if settings.sim.price_path else bundled_demo_path()
    return load_price_path(path)


async def build_venue(settings: Settings, ticks: list[PriceTick]) -> VenueSetup:
    """Raises VenueMisconfigured with what to change."""
    venue = settings.venue
    real = venue.kind == "ccxt" or (venue.kind == "okx" and venue.has_credentials())
    if real and settings.demo.enabled:
        raise VenueMisconfigured(
            f"[venue] kind = {venue.kind!r} trades on a real exchange, and the demo's simulated "
            "users would move the liability it hedges: set [demo] enabled = false"
        )
    if venue.kind == "sim":
        return _in_process_engine(settings, ticks)
    if venue.kind == "ccxt":
        return _ccxt(settings)
    if venue.has_credentials():
        return _okx(settings)
    if venue.rest_url:
        raise VenueMisconfigured(
            f"[venue] rest_url is {venue.rest_url}, but no credentials are set: set "
            "PEGKEEPER_VENUE__API_KEY, PEGKEEPER_VENUE__SECRET_KEY and "
            "PEGKEEPER_VENUE__PASSPHRASE (empty rest_url without them runs the simulator)"
        )
    return await _okx_simulator(settings, ticks)


def _okx_settings(venue: VenueSettings, instrument_id: str) -> OkxVenueSettings:
    return OkxVenueSettings(
        rest_url=venue.rest_url,
        ws_url=venue.ws_url,
        demo_trading=venue.demo_trading,
        instrument_ids=(instrument_id,),
        leverage=venue.leverage,
        account_level=venue.account_level,
        request_timeout_seconds=venue.request_timeout_seconds,
        retry_attempts=venue.retry_attempts,
        retry_backoff_seconds=venue.retry_backoff_seconds,
        burst_requests=venue.burst_requests,
        burst_refill_per_second=venue.burst_refill_per_second,
        rate_limit_pause_seconds=venue.rate_limit_pause_seconds,
        max_price_age_seconds=venue.max_price_age_seconds,
        ws_silence_seconds=venue.ws_silence_seconds,
    )


def _credentials(venue: VenueSettings) -> OkxCredentials:
    return OkxCredentials(
        venue.api_key.get_secret_value(),
        venue.secret_key.get_secret_value(),
        venue.passphrase.get_secret_value(),
    )


def _okx(settings: Settings) -> VenueSetup:
    okx_settings = _okx_settings(settings.venue, settings.hedger.instrument_id)
    venue = OkxVenue(okx_settings, _credentials(settings.venue), RealClock())
    where = settings.venue.rest_url or "www.okx.com"
    demo = " (OKX demo trading)" if settings.venue.demo_trading else ""
    return VenueSetup(
        venue,
        RealClock(),
        f"OKX at {where}{demo}",
        simulated=False,
        network=True,
        start=venue.start,
        closers=[venue.close],
    )


async def _okx_simulator(settings: Settings, ticks: list[PriceTick]) -> VenueSetup:
    sim = settings.sim
    clock = ScaledClock(start_ms=ticks[0].ts_ms, speed=sim.speed)
    credentials = Credentials(*(secrets.token_urlsafe(24) for _ in range(3)))
    exchange = SimExchange(
        SimExchangeSettings(
            port=0,
            credentials=credentials,
            trading_btc=sim.trading_btc,
            funding_btc=sim.funding_btc,
            trading_usdt=sim.trading_usdt,
            taker_fee_rate=sim.taker_fee_rate,
            maker_fee_rate=sim.maker_fee_rate,
            funding_rate=sim.funding_rate,
            leverage=sim.leverage,
            faults=tuple(sim.faults),
        ),
        clock=clock,
        ticks=ticks,
    )
    await exchange.start()
    server = exchange.server
    okx_settings = _okx_settings(settings.venue, settings.hedger.instrument_id)
    okx_settings = replace(
        okx_settings,
        rest_url=server.rest_url,
        ws_url=server.ws_url,
        leverage=sim.leverage,
        ccxt_rate_limit_ms=LOCAL_RATE_LIMIT_MS,
    )
    venue = OkxVenue(
        okx_settings,
        OkxCredentials(credentials.api_key, credentials.secret_key, credentials.passphrase),
        clock,
    )
    log.warning(
        "no OKX credentials in the environment: trading on the OKX simulator in-process",
        url=server.rest_url,
    )
    return VenueSetup(
        venue,
        clock,
        f"the OKX simulator in-process at {server.rest_url} (no OKX credentials set)",
        simulated=True,
        network=True,
        start=venue.start,
        prices=exchange.run,
        closers=[venue.close, exchange.stop],
    )


def _ccxt(settings: Settings) -> VenueSetup:
    venue_settings = settings.venue
    if not venue_settings.has_credentials():
        raise VenueMisconfigured(
            f"[venue] kind = 'ccxt' on {venue_settings.exchange} needs credentials: set "
            "PEGKEEPER_VENUE__API_KEY and PEGKEEPER_VENUE__SECRET_KEY (and __PASSPHRASE if the "
            "exchange uses one)"
        )
    profile = PROFILES[venue_settings.exchange]
    generic = CcxtVenueSettings(
        rest_url=venue_settings.rest_url,
        ws_url=venue_settings.ws_url,
        request_timeout_seconds=venue_settings.request_timeout_seconds,
        retry_attempts=venue_settings.retry_attempts,
        retry_backoff_seconds=venue_settings.retry_backoff_seconds,
        burst_requests=venue_settings.burst_requests,
        burst_refill_per_second=venue_settings.burst_refill_per_second,
        rate_limit_pause_seconds=venue_settings.rate_limit_pause_seconds,
        max_price_age_seconds=venue_settings.max_price_age_seconds,
        ws_silence_seconds=venue_settings.ws_silence_seconds,
    )
    creds = _credentials(venue_settings)
    secrets_by_name = {
        "api_key": creds.api_key,
        "secret_key": creds.secret_key,
        "passphrase": creds.passphrase,
    }
    try:
        venue = CcxtVenue(profile, generic, secrets_by_name, RealClock())
    except ValueError as error:
        raise VenueMisconfigured(f"[venue]: {error}") from None
    instrument_id = settings.hedger.instrument_id

    async def start() -> None:
        await venue.start()
        try:
            await venue.instrument(instrument_id)
        except NotFound:
            raise VenueMisconfigured(
                f"[hedger] instrument_id = {instrument_id!r} is not a market of "
                f"{profile.exchange_id}: use ccxt's unified symbol, e.g. 'BTC/USD:BTC'"
            ) from None

    return VenueSetup(
        venue,
        RealClock(),
        f"{profile.exchange_id} through ccxt",
        simulated=False,
        network=True,
        start=start,
        closers=[venue.close],
    )


def _in_process_engine(settings: Settings, ticks: list[PriceTick]) -> VenueSetup:
    sim = settings.sim
    clock = ScaledClock(start_ms=ticks[0].ts_ms, speed=sim.speed)
    engine = SimEngine(
        instruments=[BTC_USD_SWAP],
        taker_fee_rate=sim.taker_fee_rate,
        funding_rate=sim.funding_rate,
        leverage=Decimal(sim.leverage),
    )
    engine.set_price(ticks[0].ts_ms, ticks[0].price_usd)
    engine.credit_trading(sim.trading_btc)
    engine.credit_funding(sim.funding_btc)
    player = PricePlayer(engine, ticks, clock, loop=True)
    return VenueSetup(
        SimVenue(engine, clock),
        clock,
        "the simulated exchange engine in-process",
        simulated=True,
        prices=player.run,
    )

"""A venue the hedger trades on, and the clock the rest of the runtime keeps (the primary's;
the named venues of `[venues.<name>]` are built alike by bootstrap/venues.py).

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
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.bootstrap.sim_exchange import SimExchange, SimExchangeSettings, build_engine
from pegkeeper.config import Settings
from pegkeeper.config.venues import VenueSettings, env_prefix_of, section_of
from pegkeeper.domain.allocation import ROLLING_QUARTERLY, quarterly_instrument_id
from pegkeeper.domain.errors import VenueMisconfigured
from pegkeeper.domain.execution import lookup_window_seconds
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.venue import PRIMARY_VENUE
from pegkeeper.ports import Clock, FundingVenue, Venue
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.okx_server.auth import Credentials
from pegkeeper.sim.player import PricePlayer, tick_in_force
from pegkeeper.sim.price_path import PriceTick, bundled_demo_path, load_price_path
from pegkeeper.sim.wallet import Wallet as ExchangeWallet

log = structlog.get_logger("pegkeeper")

# The in-process simulator is on this machine: ccxt need not pace requests as for OKX.
LOCAL_RATE_LIMIT_MS = 5
# A restarted demo's clock starts this long after the last stored time.
RESUME_STEP_MS = 1_000

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
    funding: FundingVenue | None = None  # transfers, deposits, withdrawals; None: not offered
    account_check: Job | None = None  # re-run periodically; raises VenueMisconfigured
    exchange_wallet: ExchangeWallet | None = None  # the simulated exchange's onchain side
    leverage: int = 4  # the cross leverage the venue is set to
    price_listeners: list[Callable[[Decimal], object]] = field(default_factory=list)
    engine: SimEngine | None = None  # the simulated exchange's, whose book the demo quotes
    name: str = PRIMARY_VENUE  # [venue], or the name of its [venues.<name>] section

    def tick(self, tick: PriceTick) -> None:
        for listener in self.price_listeners:
            listener(tick.price_usd)


def price_ticks(settings: Settings) -> list[PriceTick]:
    path = Path(settings.sim.price_path) if settings.sim.price_path else bundled_demo_path()
    return load_price_path(path)


def is_real_venue(settings: Settings) -> bool:
    """Whether the hedger trades on a real exchange (with real or demo-trading money): the
    primary, or a named venue with credentials (without, a simulator stands in for it)."""
    named = settings.venues.values()
    return is_real(settings.venue) or any(v.has_credentials() and is_real(v) for v in named)


def is_real(venue: VenueSettings) -> bool:
    """Whether this venue's settings trade on a real exchange (a named one: with its keys)."""
    return venue.kind == "ccxt" or (venue.kind == "okx" and venue.has_credentials())


def simulated_start_ms(ticks: list[PriceTick], last_stored_ms: int | None) -> int | None:
    """Where a simulated clock starts: None at the path's first tick, or after the last time
    the store holds when that is later (a restarted demo goes on, never back)."""
    if last_stored_ms is None or last_stored_ms < ticks[0].ts_ms:
        return None
    return last_stored_ms + RESUME_STEP_MS


async def build_venue(
    settings: Settings, ticks: list[PriceTick], resume_ms: int | None = None
) -> VenueSetup:
    """Raises VenueMisconfigured with what to change. `resume_ms`: where a simulated clock
    starts (see `simulated_start_ms`), None at the price path's start."""
    venue = settings.venue
    if is_real_venue(settings) and settings.demo.enabled:
        raise VenueMisconfigured(
            f"[venue] kind = {venue.kind!r} trades on a real exchange, and the demo's simulated "
            "users would move the liability it hedges: set [demo] enabled = false"
        )
    if venue.kind == "sim":
        return in_process_engine(settings, ticks, resume_ms)
    if venue.kind == "ccxt":
        return ccxt_venue(settings)
    if venue.has_credentials():
        return okx_venue(settings)
    if venue.rest_url:
        raise VenueMisconfigured(
            f"[venue] rest_url is {venue.rest_url}, but no credentials are set: set "
            "PEGKEEPER_VENUE__API_KEY, PEGKEEPER_VENUE__SECRET_KEY and "
            "PEGKEEPER_VENUE__PASSPHRASE (empty rest_url without them runs the simulator)"
        )
    return await _okx_simulator(settings, ticks, resume_ms)


def hedged_instrument_ids(
    settings: Settings, now_ms: int, venue: str = PRIMARY_VENUE
) -> tuple[str, ...]:
    """The instruments the hedge is on now at `venue`: its allocation legs (the rolling
    quarterly as the future it holds), or [hedger] instrument_id on the primary alone."""
    legs = [leg.instrument_id for leg in settings.allocation.legs if leg.venue == venue]
    lead_ms = int(settings.allocation.roll_lead_hours * 3_600_000)
    alone = venue == PRIMARY_VENUE and not settings.allocation.legs
    ids = [settings.hedger.instrument_id] if alone else legs
    return tuple(
        quarterly_instrument_id(now_ms, lead_ms) if i == ROLLING_QUARTERLY else i for i in ids
    )


def order_lookup_window_seconds(settings: Settings, venue_name: str = PRIMARY_VENUE) -> float:
    """[hedger] order_lookup_window_seconds, lengthened past the latest an order request may
    still be executed at the venue: its expiry at OKX (expTime) plus the request timeout;
    through ccxt's unified API, which sends no expiry, the lease plus the request timeout."""
    venue = settings.all_venues()[venue_name]
    expires = venue.kind != "ccxt"
    bound_s = venue.order_expiry_seconds if expires else settings.cluster.lease_ttl_seconds
    must_exceed_s = bound_s + venue.request_timeout_seconds
    return lookup_window_seconds(settings.hedger.order_lookup_window_seconds, must_exceed_s)


def _okx_settings(settings: Settings, now_ms: int, name: str = PRIMARY_VENUE) -> OkxVenueSettings:
    venue = settings.all_venues()[name]
    return OkxVenueSettings(
        rest_url=venue.rest_url,
        ws_url=venue.ws_url,
        demo_trading=venue.demo_trading,
        instrument_ids=hedged_instrument_ids(settings, now_ms, name),
        leverage=venue.leverage,
        account_level=venue.account_level,
        request_timeout_seconds=venue.request_timeout_seconds,
        order_expiry_seconds=venue.order_expiry_seconds,
        retry_attempts=venue.retry_attempts,
        retry_backoff_seconds=venue.retry_backoff_seconds,
        burst_requests=venue.burst_requests,
        burst_refill_per_second=venue.burst_refill_per_second,
        rate_limit_pause_seconds=venue.rate_limit_pause_seconds,
        max_price_age_seconds=venue.max_price_age_seconds,
        ws_silence_seconds=venue.ws_silence_seconds,
        ws_fresh_seconds=venue.ws_fresh_seconds,
        fill_push_wait_seconds=venue.fill_push_wait_seconds,
        funding_balance_max_age_seconds=venue.funding_balance_max_age_seconds,
    )


def _credentials(venue: VenueSettings) -> OkxCredentials:
    return OkxCredentials(
        venue.api_key.get_secret_value(),
        venue.secret_key.get_secret_value(),
        venue.passphrase.get_secret_value(),
    )


def okx_venue(settings: Settings, name: str = PRIMARY_VENUE) -> VenueSetup:
    """OKX through ccxt, with the venue's credentials."""
    venue_settings = settings.all_venues()[name]
    okx_settings = _okx_settings(settings, RealClock().now_ms(), name)
    venue = OkxVenue(okx_settings, _credentials(venue_settings), RealClock())
    where = venue_settings.rest_url or "www.okx.com"
    demo = " (OKX demo trading)" if venue_settings.demo_trading else ""
    return VenueSetup(
        venue,
        RealClock(),
        f"OKX at {where}{demo}",
        simulated=False,
        network=True,
        start=venue.start,
        closers=[venue.close],
        funding=venue.funding,
        account_check=venue.check_account,
        leverage=venue_settings.leverage,
        name=name,
    )


async def _okx_simulator(
    settings: Settings, ticks: list[PriceTick], resume_ms: int | None
) -> VenueSetup:
    sim = settings.sim
    clock = ScaledClock(start_ms=resume_ms or ticks[0].ts_ms, speed=sim.speed)
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
        resume_ms=resume_ms,
    )
    await exchange.start()
    server = exchange.server
    okx_settings = _okx_settings(settings, clock.now_ms())
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
    setup = VenueSetup(
        venue,
        clock,
        f"the OKX simulator in-process at {server.rest_url} (no OKX credentials set)",
        simulated=True,
        network=True,
        start=venue.start,
        prices=exchange.run,
        closers=[venue.close, exchange.stop],
        funding=venue.funding,
        account_check=venue.check_account,
        exchange_wallet=exchange.engine.wallet,
        leverage=sim.leverage,
        engine=exchange.engine,
    )
    exchange.tick_listeners.append(setup.tick)
    return setup


def ccxt_venue(settings: Settings, name: str = PRIMARY_VENUE) -> VenueSetup:
    """Another exchange through ccxt's unified API, with the venue's credentials."""
    venue_settings = settings.all_venues()[name]
    section, env = section_of(name), env_prefix_of(name)
    if not venue_settings.has_credentials():
        raise VenueMisconfigured(
            f"{section} kind = 'ccxt' on {venue_settings.exchange} needs credentials: set "
            f"{env}API_KEY and {env}SECRET_KEY (and __PASSPHRASE if the exchange uses one)"
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
        raise VenueMisconfigured(f"{section}: {error}") from None
    return VenueSetup(
        venue,
        RealClock(),
        f"{profile.exchange_id} through ccxt",
        simulated=False,
        network=True,
        start=venue.start,  # the legs' instruments are checked after (bootstrap/venues.py)
        closers=[venue.close],
        leverage=venue_settings.leverage,
        name=name,
    )


def in_process_engine(
    settings: Settings,
    ticks: list[PriceTick],
    resume_ms: int | None,
    *,
    clock: ScaledClock | None = None,
    instruments: list[Instrument] | None = None,
    name: str = PRIMARY_VENUE,
) -> VenueSetup:
    """The simulated engine in-process on `clock` (default: a clock of its own), listing
    `instruments` (default: the OKX simulator's: the swaps, the current and next quarterly
    futures)."""
    sim = settings.sim
    clock = clock or ScaledClock(start_ms=resume_ms or ticks[0].ts_ms, speed=sim.speed)
    opening = ticks[0] if resume_ms is None else tick_in_force(ticks, resume_ms)
    engine = build_engine(
        SimExchangeSettings(
            trading_btc=sim.trading_btc,
            funding_btc=sim.funding_btc,
            trading_usdt=sim.trading_usdt,
            taker_fee_rate=sim.taker_fee_rate,
            maker_fee_rate=sim.maker_fee_rate,
            funding_rate=sim.funding_rate,
            leverage=sim.leverage,
        ),
        resume_ms or ticks[0].ts_ms,
        opening.price_usd,
        instruments,
    )
    if name != PRIMARY_VENUE:
        engine.wallet.address_tag = name  # deposits from one wallet reach the right engine
    setup = VenueSetup(
        SimVenue(engine, clock, name=name if name != PRIMARY_VENUE else "sim"),
        clock,
        "the simulated exchange engine in-process",
        simulated=True,
        funding=SimFunding(engine, clock),
        exchange_wallet=engine.wallet,
        leverage=sim.leverage,
        engine=engine,
        name=name,
    )

    async def on_tick(tick: PriceTick) -> None:
        setup.tick(tick)

    player = PricePlayer(
        engine, ticks, clock, on_tick, loop=True, every_instrument=True, after_ms=resume_ms
    )
    setup.prices = player.run
    return setup

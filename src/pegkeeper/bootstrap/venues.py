"""Every venue the hedge trades on: the primary (`[venue]`, bootstrap/venue.py) and each named
one (`[venues.<name>]`), by name, the primary first.

A named venue with credentials is its exchange: OKX (`kind = "okx"`) or another exchange
through ccxt (`kind = "ccxt"`). Without credentials, and while no venue is real, the simulated
exchange stands in for it in-process on the primary's clock and price path, listing the
instruments the exchange names (`STAND_IN_INSTRUMENTS`), with its own accounts and deposit
address; `kind = "sim"` is that engine by choice. Real and simulated venues are never mixed:
simulated prices and a simulated clock beside real money would hedge nothing.

At start each venue is checked (OKX: the account; every venue: that it lists the instruments
of its legs), and a leg it does not list is refused naming the leg and the venues configured.
"""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.clock import ScaledClock
from pegkeeper.bootstrap.process import VenueUnreachable
from pegkeeper.bootstrap.venue import (
    VenueSetup,
    build_venue,
    ccxt_venue,
    in_process_engine,
    is_real,
    okx_venue,
)
from pegkeeper.config import Settings
from pegkeeper.config.venues import env_prefix_of, section_of
from pegkeeper.domain.allocation import ROLLING_QUARTERLY
from pegkeeper.domain.errors import NotFound, VenueError, VenueMisconfigured
from pegkeeper.domain.instruments import ContractType, Instrument, InstrumentKind
from pegkeeper.domain.venue import PRIMARY_VENUE
from pegkeeper.sim.player import PricePlayer
from pegkeeper.sim.price_path import PriceTick


def _inverse_perpetual(contract_usd: int, tick_usd: str) -> Instrument:
    return Instrument(
        instrument_id="BTC/USD:BTC",
        kind=InstrumentKind.SWAP,
        contract_type=ContractType.INVERSE,
        contract_value=Decimal(contract_usd),
        settle_currency="BTC",
        tick_size_usd=Decimal(tick_usd),
    )


# What a stand-in lists for an exchange reached through ccxt: its BTC inverse perpetual under
# ccxt's unified symbol (Binance COIN-M BTCUSD_PERP: 100 USD a contract; Bybit BTCUSD: 1 USD;
# OKX BTC-USD-SWAP: 100 USD). A stand-in for kind "okx" or "sim" lists the OKX simulator's.
STAND_IN_INSTRUMENTS = {
    "binancecoinm": [_inverse_perpetual(100, "0.1")],
    "bybit": [_inverse_perpetual(1, "0.5")],
    "okx": [_inverse_perpetual(100, "0.1")],
}


async def build_venues(
    settings: Settings, ticks: list[PriceTick], resume_ms: int | None = None
) -> dict[str, VenueSetup]:
    """Raises VenueMisconfigured with what to change; closes what it opened first."""
    _refuse_mixed(settings)
    primary = await build_venue(settings, ticks, resume_ms)
    venues = {PRIMARY_VENUE: primary}
    try:
        for name in settings.venues:
            venues[name] = _named(settings, name, primary, ticks, resume_ms)
    except BaseException:
        for setup in venues.values():
            for close in setup.closers:
                await close()
        raise
    return venues


def _refuse_mixed(settings: Settings) -> None:
    primary_real = is_real(settings.venue)
    for name, venue in settings.venues.items():
        real = venue.kind != "sim" and venue.has_credentials()
        if real == primary_real:
            continue
        section, env = section_of(name), env_prefix_of(name)
        if primary_real:
            raise VenueMisconfigured(
                f"{section} has no credentials while [venue] trades on a real exchange, and a "
                f"simulator stands in only when no venue is real: set {env}API_KEY and "
                f"{env}SECRET_KEY (and {env}PASSPHRASE for OKX)"
            )
        raise VenueMisconfigured(
            f"{section} has credentials ({env}...) while [venue] is simulated: every venue is "
            "real or every one simulated; set [venue]'s credentials (PEGKEEPER_VENUE__...) or "
            f"unset {env}API_KEY"
        )


def _named(
    settings: Settings,
    name: str,
    primary: VenueSetup,
    ticks: list[PriceTick],
    resume_ms: int | None,
) -> VenueSetup:
    venue = settings.venues[name]
    if venue.kind != "sim" and venue.has_credentials():  # the demo was refused with [venue]
        return okx_venue(settings, name) if venue.kind == "okx" else ccxt_venue(settings, name)
    if venue.rest_url:
        env = env_prefix_of(name)
        raise VenueMisconfigured(
            f"{section_of(name)} rest_url is {venue.rest_url}, but no credentials are set: set "
            f"{env}API_KEY and {env}SECRET_KEY (empty rest_url without them runs a simulator)"
        )
    return _stand_in(settings, name, primary, ticks, resume_ms)


def _stand_in(
    settings: Settings,
    name: str,
    primary: VenueSetup,
    ticks: list[PriceTick],
    resume_ms: int | None,
) -> VenueSetup:
    """The simulated engine in-process on the primary's clock, its prices played from the
    same path."""
    venue = settings.venues[name]
    assert isinstance(primary.clock, ScaledClock)  # every venue is simulated (_refuse_mixed)
    instruments = STAND_IN_INSTRUMENTS[venue.exchange] if venue.kind == "ccxt" else None
    setup = in_process_engine(
        settings, ticks, resume_ms, clock=primary.clock, instruments=instruments, name=name
    )
    assert setup.engine is not None
    if venue.kind != "sim":
        exchange = venue.exchange if venue.kind == "ccxt" else "OKX"
        setup.description = (
            f"the simulated exchange in-process, standing in for {exchange} "
            f"(no {env_prefix_of(name)}API_KEY set)"
        )

    async def on_tick(tick: PriceTick) -> None:
        setup.tick(tick)

    player = PricePlayer(
        setup.engine,
        ticks,
        primary.clock,
        on_tick,
        loop=True,
        every_instrument=True,
        after_ms=resume_ms,
    )
    setup.prices = player.run
    return setup


def legs_on(settings: Settings, name: str) -> list[tuple[str, str]]:
    """(what to call it, instrument id) of each leg on the venue `name` whose instrument is
    fixed (a rolling quarterly's is the venue's own choice); without an allocation, the
    primary carries [hedger] instrument_id."""
    legs = settings.allocation.legs
    if not legs:
        alone = name == PRIMARY_VENUE
        return [("[hedger] instrument_id", settings.hedger.instrument_id)] if alone else []
    return [
        (f"[allocation] leg {index} ({leg.instrument_id})", leg.instrument_id)
        for index, leg in enumerate(legs, start=1)
        if leg.venue == name and leg.instrument_id != ROLLING_QUARTERLY
    ]


async def start_venue(settings: Settings, setup: VenueSetup) -> None:
    """The venue's checks (OKX: the account), then the instruments of its legs. Raises
    VenueUnreachable when it does not answer, VenueMisconfigured naming what to change."""
    try:
        if setup.start is not None:
            await setup.start()
    except NotFound as error:
        await _check_listed(settings, setup)  # names the leg, when one is the cause
        raise VenueMisconfigured(f"{section_of(setup.name)}: {error}") from None
    except (VenueError, OSError, TimeoutError) as error:
        raise VenueUnreachable(
            f"cannot reach {setup.description}: {error}; check the network, or "
            f"{section_of(setup.name)} rest_url ({env_prefix_of(setup.name)}REST_URL)"
        ) from None
    await _check_listed(settings, setup)


async def _check_listed(settings: Settings, setup: VenueSetup) -> None:
    for label, instrument_id in legs_on(settings, setup.name):
        try:
            await setup.venue.instrument(instrument_id)
        except NotFound:
            raise VenueMisconfigured(_unlisted(settings, setup, label, instrument_id)) from None


def _unlisted(settings: Settings, setup: VenueSetup, label: str, instrument_id: str) -> str:
    venues = ", ".join(f"{n} ({section_of(n)}, {v.kind})" for n, v in settings.all_venues().items())
    hint = ""
    if settings.all_venues()[setup.name].kind == "ccxt":
        hint = "; through ccxt an instrument is named by ccxt's unified symbol, e.g. 'BTC/USD:BTC'"
    return (
        f"{label} is on the venue {setup.name!r} ({setup.description}), which does not list "
        f"{instrument_id}{hint}; venues configured: {venues}"
    )

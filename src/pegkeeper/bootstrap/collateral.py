"""The funding manager's parts: its policy, the operator's wallet, the alert webhook, and one
funding service per venue and collateral currency its legs use (BTC for inverse swaps and
futures, USDT for linear swaps; onchain moves only for BTC). Each venue's services read the
whole allocation and count their own legs' share of the liability (AccountReader); with
several venues their alerts name the venue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from pegkeeper.adapters.alerts.webhook import LogAlertSink, WebhookAlertSink, WebhookSettings
from pegkeeper.adapters.clock import ScaledClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.wallet.bitcoind import BitcoindSettings, BitcoindWallet
from pegkeeper.adapters.wallet.sim import SimWallet
from pegkeeper.bootstrap.venue import VenueSetup
from pegkeeper.config import Settings
from pegkeeper.config.venues import section_of
from pegkeeper.domain.allocation import Allocation, HedgeLeg
from pegkeeper.domain.collateral_policy import (
    CollateralPolicy,
    GaloyDealerCollateralParams,
    GaloyDealerCollateralPolicy,
    StablesatsCollateralParams,
    StablesatsCollateralPolicy,
)
from pegkeeper.domain.errors import VenueMisconfigured
from pegkeeper.domain.execution import lookup_window_seconds
from pegkeeper.domain.floor_policy import LiquidationFloorPolicy
from pegkeeper.domain.instruments import collateral_currency
from pegkeeper.domain.units import SATS_PER_BTC
from pegkeeper.domain.venue import PRIMARY_VENUE
from pegkeeper.ports import AlertSink, Bus, ReadinessGate, Wallet
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.collateral.manager import CollateralManager, CollateralSettings
from pegkeeper.services.collateral.operations import OperationSettings
from pegkeeper.services.collateral.watch import FeedHealth
from pegkeeper.services.views.collateral import CollateralView
from pegkeeper.sim.chain import SimChain

log = structlog.get_logger("pegkeeper")

Job = Callable[[], Awaitable[object]]


@dataclass
class FundingSetup:
    services: list[CollateralManager]
    alerter: Alerter
    view: CollateralView
    wallet: Wallet | None
    closers: list[Job] = field(default_factory=list)


def allocation_of(settings: Settings) -> Allocation:
    legs = settings.allocation.legs
    if not legs:
        return Allocation.single(settings.hedger.instrument_id)
    return Allocation(tuple(HedgeLeg(leg.instrument_id, leg.weight, leg.venue) for leg in legs))


def build_alerter(settings: Settings, store: SqlStore, venue: VenueSetup) -> Alerter:
    a = settings.alerts
    sink: AlertSink = LogAlertSink()
    closers: list[Job] = []
    url = a.webhook_url.get_secret_value()
    if url:
        webhook = WebhookAlertSink(
            WebhookSettings(url, a.format, a.telegram_chat_id, a.timeout_seconds)
        )
        sink = webhook
        closers.append(webhook.close)
    venue.closers.extend(closers)
    return Alerter(sink, store.funding, venue.clock, alert_settings(settings))


def alert_settings(settings: Settings) -> AlertSettings:
    a = settings.alerts
    return AlertSettings(
        liquidation_distance_floor_pct=a.liquidation_distance_floor_pct,
        feed_stale_after_seconds=a.feed_stale_after_seconds,
        hedge_outside_brackets_seconds=a.hedge_outside_brackets_seconds,
        repeat_after_seconds=a.repeat_after_seconds,
    )


def build_funding(
    settings: Settings,
    store: SqlStore,
    venues: Mapping[str, VenueSetup],
    bus: Bus,
    alerter: Alerter,
    feeds: FeedHealth | None = None,
    gate: ReadinessGate | None = None,
) -> FundingSetup:
    """Raises VenueMisconfigured when the configuration cannot work. `feeds`: the primary's."""
    primary = venues[PRIMARY_VENUE]
    wallet = _wallet(settings, primary)
    if isinstance(wallet, SimWallet):
        for setup in venues.values():
            if setup is not primary and setup.exchange_wallet is not None:
                wallet.pay_into(setup.exchange_wallet)
        sim_wallet = wallet  # its chain finds blocks as simulated time passes
        primary.price_listeners.insert(0, lambda _: sim_wallet.sync())
    allocation = allocation_of(settings)
    services: list[CollateralManager] = []
    for name, setup in venues.items():
        scoped = alerter.for_venue(name) if len(venues) > 1 else alerter
        primary_feeds = feeds if name == PRIMARY_VENUE else None
        services += _managers(
            settings, store, setup, allocation, wallet, bus, scoped, primary_feeds, gate
        )
    closers: list[Job] = []
    if isinstance(wallet, BitcoindWallet):
        closers.append(wallet.close)
    view = CollateralView(store, services, wallet)
    return FundingSetup(services, alerter, view, wallet, closers)


def _managers(
    settings: Settings,
    store: SqlStore,
    venue: VenueSetup,
    allocation: Allocation,
    wallet: Wallet | None,
    bus: Bus,
    alerter: Alerter,
    feeds: FeedHealth | None,
    gate: ReadinessGate | None,
) -> list[CollateralManager]:
    """One funding service per collateral currency of the venue's legs."""
    _check_leverage(settings, venue)
    funding_venue = venue.funding
    if funding_venue is None:
        log.warning(
            "the venue offers no transfers or deposits: funding is off", venue=venue.description
        )
        return []
    legs = [leg for leg in allocation.legs if leg.venue == venue.name]
    currencies = dict.fromkeys(collateral_currency(leg.instrument_id) for leg in legs)
    services = []
    for currency in currencies:
        service = CollateralManager(
            store,
            venue.venue,
            funding_venue,
            wallet if currency == "BTC" else None,
            bus,
            venue.clock,
            funding_policy(settings, currency, Decimal(venue.leverage)),
            allocation,
            alerter,
            _service_settings(settings, currency, venue),
            feeds=feeds if currency == "BTC" else None,
            account_check=venue.account_check,
            gate=gate,
        )
        services.append(service)
        venue.price_listeners.append(service.on_price)
    return services


def _check_leverage(settings: Settings, venue: VenueSetup) -> None:
    """The exchange's cross leverage must reach the policy's high bound, or orders would be
    refused for margin before the policy tops the collateral up. Stablesats sets it to the
    high bound exactly; a higher one is allowed, and said."""
    f = settings.funding
    bound = funding_policy(settings, "BTC", Decimal(venue.leverage)).high_bound_leverage
    key = "[sim] leverage" if venue.simulated else f"{section_of(venue.name)} leverage"
    if Decimal(venue.leverage) < bound:
        raise VenueMisconfigured(
            f"[funding] policy {f.policy!r} lets leverage reach {bound}, so the exchange's "
            f"cross leverage must be at least {bound}: {key} is {venue.leverage}; set it to "
            f"{bound} (and the instrument's cross leverage at the exchange), or set [funding] "
            "enabled = false"
        )
    if Decimal(venue.leverage) > bound:
        log.warning(
            "the exchange's leverage is above the funding policy's high bound",
            leverage=venue.leverage,
            high_bound=str(bound),
        )


def _wallet(settings: Settings, venue: VenueSetup) -> Wallet | None:
    w = settings.funding.wallet
    if w.kind == "none":
        return None
    if w.kind == "bitcoind":
        url = w.bitcoind_url.get_secret_value()
        if not url:
            raise VenueMisconfigured(
                "[funding.wallet] kind = 'bitcoind' needs the node's address: set "
                "PEGKEEPER_FUNDING__WALLET__BITCOIND_URL (and __BITCOIND_USER, "
                "__BITCOIND_PASSWORD)"
            )
        return BitcoindWallet(
            BitcoindSettings(
                url,
                w.bitcoind_wallet,
                w.bitcoind_user.get_secret_value(),
                w.bitcoind_password.get_secret_value(),
                w.timeout_seconds,
            )
        )
    if venue.exchange_wallet is None:
        log.warning(
            "no onchain wallet: [funding.wallet] kind = 'sim' pays into the simulated exchange "
            "only; deposits and withdrawals are refused and alerted until kind = 'bitcoind'"
        )
        return None
    chain = SimChain(
        venue.clock.now_ms(),
        int(w.sim_balance_btc * SATS_PER_BTC),
        block_interval_ms=int(w.sim_block_interval_seconds * 1000),
        min_fee_rate_sat_vb=w.sim_min_fee_rate_sat_vb,
    )
    return SimWallet(chain, venue.clock, venue.exchange_wallet)


def funding_policy(
    settings: Settings, currency: str, exchange_leverage: Decimal
) -> CollateralPolicy:
    """`[funding] policy` for the collateral `currency`, on a venue at `exchange_leverage`."""
    f = settings.funding
    threshold = settings.hedger.stablesats.minimum_liability_threshold_cents
    if f.policy == "liquidation-floor":
        params = f.liquidation_floor.params(
            maintenance_margin_rate=f.maintenance_margin_rate,
            exchange_leverage=exchange_leverage,
            inverse=currency == "BTC",  # as domain/leverage.py tells an inverse account
            minimum_liability_threshold_cents=threshold,
        )
        return LiquidationFloorPolicy(params)
    if f.policy == "galoy-dealer":
        galoy = f.galoy_dealer.model_dump()
        if currency != "BTC":
            galoy["minimum_funding_balance_btc"] = f.usdt_minimum_funding_balance
        return GaloyDealerCollateralPolicy(
            GaloyDealerCollateralParams(minimum_liability_threshold_cents=threshold, **galoy)
        )
    stablesats = f.stablesats.model_dump()
    if currency != "BTC":
        stablesats["minimum_funding_balance_btc"] = f.usdt_minimum_funding_balance
    return StablesatsCollateralPolicy(
        StablesatsCollateralParams(minimum_liability_threshold_cents=threshold, **stablesats)
    )


def _service_settings(settings: Settings, currency: str, venue: VenueSetup) -> CollateralSettings:
    window_seconds = transfer_lookup_window_seconds(settings, venue.name)
    if venue.simulated and venue.network and isinstance(venue.clock, ScaledClock):
        window_seconds *= venue.clock.speed  # a request's time on the wire is real time
    return funding_settings(settings, currency, window_seconds, venue.name)


def transfer_lookup_window_seconds(settings: Settings, venue_name: str = PRIMARY_VENUE) -> float:
    """[funding] lookup_window_seconds, lengthened past the latest a transfer or withdrawal
    request may still be executed: it carries no expiry, so a paused former holder's may reach
    the venue up to the lease plus the venue's request timeout after it was sent."""
    timeout_s = settings.all_venues()[venue_name].request_timeout_seconds
    must_exceed_s = settings.cluster.lease_ttl_seconds + timeout_s
    return lookup_window_seconds(settings.funding.lookup_window_seconds, must_exceed_s)


def funding_settings(
    settings: Settings,
    currency: str,
    lookup_window_seconds: float,
    venue_name: str = PRIMARY_VENUE,
) -> CollateralSettings:
    f, brackets = settings.funding, settings.hedger.stablesats
    return CollateralSettings(
        currency=currency,
        venue_name=venue_name,
        check_interval_seconds=f.check_interval_seconds,
        leverage_snapshot_interval_seconds=f.leverage_snapshot_interval_seconds,
        maintenance_margin_rate=f.maintenance_margin_rate,
        hedge_low_bound_ratio=brackets.low_bound_ratio_shorting,
        hedge_high_bound_ratio=brackets.high_bound_ratio_shorting,
        hedge_minimum_liability_cents=brackets.minimum_liability_threshold_cents,
        roll_lead_seconds=settings.allocation.roll_lead_hours * 3600,
        account_check_interval_seconds=f.account_check_interval_seconds,
        operations=OperationSettings(
            lookup_window_seconds=lookup_window_seconds,
            deposit_lookup_window_seconds=f.deposit_lookup_window_seconds,
            deposit_timeout_seconds=f.deposit_timeout_seconds,
            deposit_fee_rate_sat_vb=f.deposit_fee_rate_sat_vb,
            fee_bump_after_seconds=f.fee_bump_after_seconds,
            fee_bump_step_sat_vb=f.fee_bump_step_sat_vb,
            max_fee_rate_sat_vb=f.max_fee_rate_sat_vb,
            deposit_jitter_max_sats=f.deposit_jitter_max_sats,
            withdrawal_address=f.withdrawal_address,
        ),
    )

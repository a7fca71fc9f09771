"""The broker the equity hedger trades at, chosen by `[equities] broker`, with the market
calendar it follows and the probe that checks both (`pegkeeper broker check`, `/readyz`)."""

from __future__ import annotations

from pegkeeper.adapters.brokers.dry_run import DryRunBroker, DryRunSettings, PriceSource
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.config import ConfigError, Settings
from pegkeeper.config.equities import EquitiesSettings
from pegkeeper.domain.equities.broker import BrokerKind
from pegkeeper.ports import Broker, Clock, MarketCalendar
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.equities.broker_probe import BrokerCheck, BrokerProbe, ProbeNeeds

PROBE_INTERVAL_SECONDS = 300.0


def build_broker(
    equities: EquitiesSettings, store: SqlStore, clock: Clock, price: PriceSource
) -> Broker:
    """`price`: where the dry-run broker fills (the last onchain fill's price)."""
    if equities.broker == "dry-run":
        return DryRunBroker(clock, _dry_run(equities), last_price=price)
    raise ConfigError(f'broker = "{equities.broker}": this build hedges with "dry-run" only so far')


def market_calendar(equities: EquitiesSettings, broker: Broker) -> MarketCalendar:
    if equities.calendar == "broker":
        return broker
    raise ConfigError(f'calendar = "{equities.calendar}": this build follows "broker" only so far')


def broker_probe(
    equities: EquitiesSettings, broker: Broker, clock: Clock, alerter: Alerter | None
) -> BrokerProbe:
    needs = ProbeNeeds(kind=broker.kind, extended_hours=tuple(equities.extended_hours))
    return BrokerProbe(
        broker,
        market_calendar(equities, broker),
        clock,
        needs,
        alerter=alerter,
        interval_seconds=PROBE_INTERVAL_SECONDS,
    )


def _dry_run(equities: EquitiesSettings) -> DryRunSettings:
    d = equities.dry_run
    return DryRunSettings(
        kind=BrokerKind(d.kind),
        slippage_bps=d.slippage_bps,
        latency_ms=d.latency_ms,
        quotes=dict(d.quotes),
        fill_pieces=d.fill_pieces,
        piece_interval_ms=d.piece_interval_ms,
        cash_usd=d.cash_usd,
        holdings=dict(d.holdings),
        default_holding_shares=d.default_holding_shares,
    )


async def probe_once(settings: Settings) -> BrokerCheck:
    """One probe of the configured broker, as `pegkeeper broker check` prints it."""
    from pegkeeper.adapters.clock import RealClock
    from pegkeeper.adapters.store.database import open_store

    clock = RealClock()
    store = await open_store(settings.database_url, clock=clock)
    try:
        broker = build_broker(settings.equities, store, clock, store.equities.last_fill_price)
        try:
            return await broker_probe(settings.equities, broker, clock, None).check()
        finally:
            await broker.aclose()
    finally:
        await store.close()

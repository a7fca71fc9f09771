"""The broker the equity hedger trades at, chosen by `[equities] broker`, with the market
calendar it follows and the probe that checks both (`pegkeeper broker check`, `/readyz`)."""

from __future__ import annotations

from pegkeeper.adapters.brokers.alpaca import build_alpaca
from pegkeeper.adapters.brokers.dry_run import DryRunBroker, DryRunSettings, PriceSource
from pegkeeper.adapters.brokers.schwab import build_schwab
from pegkeeper.adapters.calendars.always_open import AlwaysOpenCalendar
from pegkeeper.adapters.calendars.exchange import ExchangeCalendar
from pegkeeper.adapters.calendars.fallback import FallbackCalendar
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.store.token_store import EncryptedTokenStore, TokenCipher
from pegkeeper.config import Settings
from pegkeeper.config.equities import EquitiesSettings
from pegkeeper.domain.equities.broker import BrokerKind
from pegkeeper.ports import Broker, Clock, MarketCalendar
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.equities.broker_probe import BrokerCheck, BrokerProbe, ProbeNeeds
from pegkeeper.services.equities.hedge_gate import GateSettings, HedgeGate

PROBE_INTERVAL_SECONDS = 300.0


def build_broker(
    equities: EquitiesSettings, store: SqlStore, clock: Clock, price: PriceSource
) -> Broker:
    """`price`: where the dry-run broker fills (the last onchain fill's price)."""
    if equities.broker == "dry-run":
        return DryRunBroker(clock, _dry_run(equities), last_price=price)
    if equities.broker == "schwab":
        tokens = EncryptedTokenStore(store.broker_tokens, TokenCipher.from_environment(), clock)
        return build_schwab(equities.schwab, tokens, clock)
    return build_alpaca(equities, clock)  # alpaca-trading, alpaca-broker


def broker_request_timeout_seconds(equities: EquitiesSettings) -> float:
    """How long a request to the configured broker may take (the dry-run broker's: none)."""
    if equities.broker == "dry-run":
        return 0.0
    if equities.broker == "schwab":
        return equities.schwab.request_timeout_seconds
    return equities.alpaca.request_timeout_seconds


def market_calendar(equities: EquitiesSettings, broker: Broker) -> MarketCalendar:
    """The broker's calendar (the dry-run broker's never closes), with the exchange's offline
    calendar when a real broker does not answer; or the one `calendar` names."""
    if equities.calendar == "always-open":
        return AlwaysOpenCalendar()
    if equities.calendar == "exchange":
        return ExchangeCalendar()
    if isinstance(broker, DryRunBroker):
        return broker
    return FallbackCalendar(broker, ExchangeCalendar())


def hedge_gate(
    equities: EquitiesSettings,
    broker: Broker,
    calendar: MarketCalendar,
    clock: Clock,
    alerter: Alerter | None,
) -> HedgeGate:
    settings = GateSettings(
        extended_hours=frozenset(equities.extended_hours),
        extended_slippage_bps=equities.extended_slippage_bps,
        reprice_after_seconds=equities.reprice_after_seconds,
        preflight_slippage_bps=equities.preflight_slippage_bps,
    )
    return HedgeGate(broker, calendar, clock, settings, alerter)


def broker_probe(
    equities: EquitiesSettings,
    broker: Broker,
    calendar: MarketCalendar,
    clock: Clock,
    alerter: Alerter | None,
) -> BrokerProbe:
    needs = ProbeNeeds(kind=broker.kind, extended_hours=tuple(equities.extended_hours))
    return BrokerProbe(
        broker,
        calendar,
        clock,
        needs,
        alerter=alerter,
        interval_seconds=PROBE_INTERVAL_SECONDS,
        login_expires=getattr(broker, "login_expires_at_ms", None),
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
            calendar = market_calendar(settings.equities, broker)
            return await broker_probe(settings.equities, broker, calendar, clock, None).check()
        finally:
            await broker.aclose()
    finally:
        await store.close()

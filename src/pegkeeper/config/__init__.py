"""Typed settings: a TOML file plus environment overrides, validated at start.

Environment variables override the file: `PEGKEEPER_HTTP__PORT=8001` sets `[http] port`.
No file at all gives the embedded demo: SQLite, in-memory bus, the simulated exchange.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pegkeeper.config.backtest import BacktestSettingsModel
from pegkeeper.config.cluster import BusSettings, ClusterSettings, TracingSettings
from pegkeeper.config.collateral import (
    ENV_ONLY_KEYS,
    AlertsSettingsModel,
    AllocationSettings,
    FundingSettingsModel,
)
from pegkeeper.config.equities import FILE_SECRETS as EQUITY_FILE_SECRETS
from pegkeeper.config.equities import HIDDEN_KEYS as EQUITY_HIDDEN_KEYS
from pegkeeper.config.equities import EquitiesSettings
from pegkeeper.config.hedge import MakerBandPolicySettings
from pegkeeper.config.ledger import (
    LEDGER_SECRETS,
    LedgerSettings,
    secret_env_name,
    secrets_in,
)
from pegkeeper.config.venues import (
    PRIMARY,
    SECRET_KEYS,
    VenueSettings,
    check_legs,
    check_names,
    file_secrets,
    is_secret_key,
    section_of,
)
from pegkeeper.config.web import FILE_FORBIDDEN_KEYS as WEB_SECRET_KEYS
from pegkeeper.config.web import WebSettings

ENV_PREFIX = "PEGKEEPER_"
CONFIG_ENV = "PEGKEEPER_CONFIG"


class ConfigError(Exception):
    """Names the bad key and says what was expected."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreSettings(_Section):
    database_url: str = ""  # empty: a SQLite file under data_dir


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)


class LiabilitySettings(_Section):
    max_abs_delta_cents: int = Field(100_000_000, gt=0)  # one change of at most 1 000 000 USD


class StablesatsPolicySettings(_Section):
    minimum_liability_threshold_cents: int = Field(5_000, ge=0)
    low_bound_ratio_shorting: Decimal = Decimal("0.95")
    low_safebound_ratio_shorting: Decimal = Decimal("0.98")
    high_safebound_ratio_shorting: Decimal = Decimal("1.00")
    high_bound_ratio_shorting: Decimal = Decimal("1.03")

    @model_validator(mode="after")
    def _check_brackets(self) -> StablesatsPolicySettings:
        ordered = [
            self.low_bound_ratio_shorting,
            self.low_safebound_ratio_shorting,
            self.high_safebound_ratio_shorting,
            self.high_bound_ratio_shorting,
        ]
        if ordered != sorted(ordered) or ordered[0] <= 0:
            raise ValueError(
                "expected 0 < low_bound_ratio_shorting <= low_safebound_ratio_shorting <= "
                "high_safebound_ratio_shorting <= high_bound_ratio_shorting, "
                f"got {[str(x) for x in ordered]}"
            )
        return self


class HedgerSettingsModel(_Section):
    enabled: bool = True
    policy: Literal["stablesats", "maker-band"] = "stablesats"
    instrument_id: str = "BTC-USD-SWAP"
    check_interval_seconds: float = Field(10.0, gt=0)
    order_lookup_window_seconds: float = Field(10.0, gt=0)
    snapshot_interval_seconds: float = Field(60.0, gt=0)
    limit_order_timeout_seconds: float = Field(30.0, gt=0)  # a post-only order resting longer
    stablesats: StablesatsPolicySettings = StablesatsPolicySettings()
    maker_band: MakerBandPolicySettings = MakerBandPolicySettings()


class PegMonitorSettingsModel(_Section):
    enabled: bool = True
    symbols: list[str] = Field(default_factory=lambda: ["USDC", "USDT"], min_length=1)
    model: Literal["robust", "stablecoin-stats"] = "robust"
    cross_exchange: Literal["median", "liquidity-weighted"] = "median"  # robust model only
    max_deviation: Decimal = Field(Decimal("0.02"), ge=0)  # outliers beyond this, relative
    window_ticks: int = Field(1_000, ge=1)  # the reference's window of the last N prices
    source_stale_after_seconds: float = Field(30.0, gt=0)
    record_interval_seconds: float = Field(1.0, ge=0)
    raw_retention_hours: float = Field(48.0, gt=0)  # then downsampled to 1-minute rows


class OkxFeedSettings(_Section):
    enabled: bool = False  # the demo runs without network; enable for the live OKX books
    url: str = "wss://ws.okx.com:8443/ws/v5/public"
    inst_ids: list[str] = Field(default_factory=lambda: ["BTC-USD-SWAP"], min_length=1)
    publish_interval_ms: int = Field(500, ge=0)  # at most one book per instrument this often
    depth_levels: int = Field(50, ge=1)  # levels of each side published for depth walkers
    resubscribe_after_seconds: float = Field(10.0, gt=0)  # silence -> resubscribe
    stale_after_seconds: float = Field(30.0, gt=0)  # silence -> stale, out of every aggregate
    max_clock_skew_ms: int = Field(5_000, gt=0)  # exchange time this far from receipt: untrusted
    capture: str = ""  # a capture file of OKX public messages: replayed instead of the network


class QuoteSourceSettings(_Section):
    enabled: bool = True
    symbols: list[str] = Field(default_factory=list)  # ccxt unified symbols, e.g. "BTC/USDT"
    method: Literal["", "bids_asks", "ticker", "order_book"] = ""  # empty: the exchange's default
    ws_url: str = ""  # empty: the exchange's own
    rest_url: str = ""  # empty: the exchange's own (Bitstamp's book snapshots)
    offline_markets: bool = False  # skip ccxt's REST market load (for local servers)
    capture: str = ""  # a capture file of this exchange's raw messages: replayed, no network


def _source(*symbols: str) -> QuoteSourceSettings:
    return QuoteSourceSettings(symbols=list(symbols))


class QuoteFeedsSettings(_Section):
    """Best bid/offer of every market in specs/market-data.md, through ccxt's WebSockets."""

    enabled: bool = False  # needs the network
    resubscribe_after_seconds: float = Field(10.0, gt=0)
    stale_after_seconds: float = Field(30.0, gt=0)
    max_clock_skew_ms: int = Field(5_000, gt=0)
    okx: QuoteSourceSettings = _source("BTC/USDT", "BTC/USDC", "USDC/USDT")
    binance: QuoteSourceSettings = _source("BTC/USDT", "BTC/USDC", "USDC/USDT", "FDUSD/USDT")
    coinbase: QuoteSourceSettings = _source("BTC/USD", "BTC/USDT", "USDT/USD", "DAI/USD")
    kraken: QuoteSourceSettings = _source("BTC/USD", "USDT/USD", "USDC/USD", "DAI/USD")
    bitstamp: QuoteSourceSettings = _source("BTC/USD", "USDT/USD", "USDC/USD")

    def sources(self) -> dict[str, QuoteSourceSettings]:
        named = {
            "okx": self.okx,
            "binance": self.binance,
            "coinbase": self.coinbase,
            "kraken": self.kraken,
            "bitstamp": self.bitstamp,
        }
        return {name: source for name, source in named.items() if source.enabled}


class MarketDataSettings(_Section):
    # A recorded OKX `books` snapshot message (JSON) that the price server quotes from instead
    # of the live feed; it never goes stale. Empty: the live OKX feed when [market_data.okx] is
    # enabled, else the bundled BTC-USD-SWAP snapshot from stablesats' test fixtures.
    okx_book_file: str = ""
    okx: OkxFeedSettings = OkxFeedSettings()
    quotes: QuoteFeedsSettings = QuoteFeedsSettings()


class PriceFeeSettings(_Section):
    """immediate rate = base + immediate; delayed rate (Future rpcs, quotes without immediate
    execution) = base + delayed."""

    base_fee_rate: Decimal = Field(Decimal("0.0005"), ge=0, lt=Decimal("0.5"))
    immediate_fee_rate: Decimal = Field(Decimal("0.0005"), ge=0, lt=Decimal("0.5"))
    delayed_fee_rate: Decimal = Field(Decimal("0.0007"), ge=0, lt=Decimal("0.5"))


class PriceServerSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    price_port: int = Field(3325, ge=0, le=65535)  # services.price.v1.PriceService
    quote_port: int = Field(3326, ge=0, le=65535)  # services.quotes.v1.QuoteService
    # true: replicas on one machine share the ports (SO_REUSEPORT; the kernel spreads the
    # connections). false: a taken port stops the start.
    reuse_port: bool = False
    # "own": the books of this process (its feed, a file, the simulator); "bus": the books
    # another process's market-data feed publishes on the bus (stateless replicas)
    books: Literal["own", "bus"] = "own"
    inst_id: str = "BTC-USD-SWAP"
    stale_after_seconds: float = Field(30.0, gt=0)  # by the exchange's timestamp of the book
    quote_expiration_seconds: float = Field(120.0, gt=0)
    # With a real venue the price server quotes from the live OKX feed; true lets it quote
    # from a book file (or the bundled one) instead, which never goes stale.
    allow_file_book_with_real_venue: bool = False
    fees: PriceFeeSettings = PriceFeeSettings()


# read from the environment only; a config file that sets one is refused
FILE_SECRETS = (
    *(f"venue.{key}" for key in SECRET_KEYS),
    *(f"web.{key}" for key in WEB_SECRET_KEYS),
    *LEDGER_SECRETS,
    *(f"{section}.{key}" for section, keys in ENV_ONLY_KEYS.items() for key in keys),
    *EQUITY_FILE_SECRETS,
)


class SimSettings(_Section):
    price_path: str = ""  # empty: the bundled day of real 1-minute BTC prices (2020-03-12)
    speed: float = Field(60.0, gt=0)  # simulated seconds per real second
    trading_btc: Decimal = Field(Decimal("2"), ge=0)
    funding_btc: Decimal = Field(Decimal("1"), ge=0)
    trading_usdt: Decimal = Field(Decimal("20000"), ge=0)
    taker_fee_rate: Decimal = Field(Decimal("0.0005"), ge=0, lt=1)
    maker_fee_rate: Decimal = Field(Decimal("0.0002"), ge=-1, lt=1)
    funding_rate: Decimal = Decimal("0.0001")
    leverage: int = Field(4, ge=1, le=100)
    faults: list[str] = Field(default_factory=list)  # the in-process OKX simulator's, NAME=VALUE


class DemoSettings(_Section):
    enabled: bool = True  # a flow of users buying and selling synthetic USD (sim venue only)
    seed: int = 7
    mean_interval_seconds: float = Field(300.0, gt=0)  # simulated time between user trades
    median_trade_cents: int = Field(20_000, gt=0)
    max_liability_cents: int = Field(2_000_000, gt=0)
    opening_liability_cents: int = Field(1_000_000, ge=0)  # on an empty ledger, at start
    peg_replay: bool = True  # replay the March 2023 USDC depeg into the peg monitor
    peg_replay_minutes_per_second: float = Field(20.0, gt=0)  # recorded minutes per real second
    peg_replay_start_minute: int = Field(0, ge=0, lt=11_520)  # 4_500: just before the depeg
    # a local chain (anvil, when installed) with takers filling tokenized-stock orders
    equities: bool = True


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    json_format: bool = Field(True, alias="json")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )
    toml_path: ClassVar[Path | None] = None

    data_dir: Path = Path("data")
    store: StoreSettings = StoreSettings()
    http: HttpSettings = HttpSettings()
    liability: LiabilitySettings = LiabilitySettings()
    ledger: LedgerSettings = LedgerSettings()
    hedger: HedgerSettingsModel = HedgerSettingsModel()
    peg_monitor: PegMonitorSettingsModel = PegMonitorSettingsModel()
    market_data: MarketDataSettings = MarketDataSettings()
    price_server: PriceServerSettings = PriceServerSettings()
    venue: VenueSettings = VenueSettings()  # the venue named "primary"
    venues: dict[str, VenueSettings] = Field(default_factory=dict)  # [venues.<name>]
    sim: SimSettings = SimSettings()
    demo: DemoSettings = DemoSettings()
    backtest: BacktestSettingsModel = BacktestSettingsModel()
    log: LogSettings = LogSettings()
    web: WebSettings = WebSettings()
    funding: FundingSettingsModel = FundingSettingsModel()
    alerts: AlertsSettingsModel = AlertsSettingsModel()
    allocation: AllocationSettings = AllocationSettings()
    equities: EquitiesSettings = EquitiesSettings()
    cluster: ClusterSettings = ClusterSettings()
    bus: BusSettings = BusSettings()
    tracing: TracingSettings = TracingSettings()

    @field_validator("venues")
    @classmethod
    def _check_venue_names(cls, venues: dict[str, VenueSettings]) -> dict[str, VenueSettings]:
        check_names(list(venues))
        return venues

    @model_validator(mode="after")
    def _check_order_expiry(self) -> Settings:
        lease = self.cluster.lease_ttl_seconds
        for name, venue in self.all_venues().items():
            expiry = venue.order_expiry_seconds
            if expiry >= lease:
                raise ValueError(
                    f"{section_of(name)} order_expiry_seconds ({expiry:g}) must be shorter than "
                    f"[cluster] lease_ttl_seconds ({lease:g}): an order request that reaches the "
                    "venue after its sender's lease was taken over must be refused there"
                )
        return self

    @model_validator(mode="after")
    def _check_leg_venues(self) -> Settings:
        legs = [(leg.instrument_id, leg.venue) for leg in self.allocation.legs]
        check_legs(legs, list(self.venues))
        return self

    def all_venues(self) -> dict[str, VenueSettings]:
        """Every venue by name, the primary ([venue]) first."""
        return {PRIMARY: self.venue, **self.venues}

    @property
    def database_url(self) -> str:
        if self.store.database_url:
            return self.store.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pegkeeper.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_path))
        return tuple(sources)


def load_settings(path: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from `path` (or $PEGKEEPER_CONFIG), then the environment, then `overrides`."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV) or None
    toml_path = Path(chosen) if chosen else None
    if toml_path is not None:
        _check_toml(toml_path)
    Settings.toml_path = toml_path
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error, toml_path)) from None
    finally:
        Settings.toml_path = None


def _check_toml(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    written = secrets_in(table, [*FILE_SECRETS, *file_secrets(table)])
    if written:
        names = ", ".join(written)
        env = ", ".join(secret_env_name(k) for k in written)
        raise ConfigError(
            f"config file {path} sets {names}: credentials are never read from a file; "
            f"remove them and set {env} in the environment"
        )


def _describe(error: ValidationError, path: Path | None) -> str:
    where = f" in {path}" if path else ""
    lines = [f"invalid configuration{where}:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (see examples/pegkeeper.toml for every key)")
            continue
        got = item.get("input")
        secret = key in FILE_SECRETS or key in EQUITY_HIDDEN_KEYS or is_secret_key(key)
        shown = "" if isinstance(got, dict) or secret else f" (got {got!r})"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {key}: {message}{shown}")
    return "\n".join(lines)

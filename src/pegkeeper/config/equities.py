"""Settings of the `[equities]` section: the tokenized-equity hedger.

The RPC URL often carries a provider's key: it is kept as a secret (never shown in errors or
logs) and may come from the environment, PEGKEEPER_EQUITIES__RPC_URL, which overrides the file.
Every address is checked at start (0x and 40 hex digits) and lower-cased; an asset named twice,
an address used twice or a missing USDC address is refused with the key named. Whether each
token address is a contract needs the chain: chain ingestion checks it when it starts.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from pegkeeper.config.rebalancing import RebalancingSettings
from pegkeeper.domain.equities.assets import EquityAsset, EquityUniverse
from pegkeeper.domain.equities.broker import BrokerKind
from pegkeeper.domain.equities.inventory import CASH_ASSET

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9./-]{0,19}$")  # as domain.equities.assets takes it
# read from the environment only (PEGKEEPER_EQUITIES__ALPACA__KEY_ID, ...); a file that sets
# one is refused
FILE_SECRETS = (
    "equities.alpaca.key_id",
    "equities.alpaca.secret_key",
    "equities.schwab.app_key",
    "equities.schwab.app_secret",
    "equities.rebalancing.signer_key",
)
# keys whose values are never shown in an error message
HIDDEN_KEYS = ("equities.rpc_url", "equities.rebalancing.bridge.wallet_rpc_url", *FILE_SECRETS)


def _address(value: str) -> str:
    if value and not ADDRESS.match(value):
        raise ValueError("expected an address: 0x and 40 hexadecimal digits")
    return value.lower()


def _symbol(value: str) -> str:
    if not SYMBOL.match(value):
        raise ValueError(
            "expected the broker's ticker: 1 to 20 upper-case letters, digits, '.', '/' or "
            "'-' (e.g. AAPL, BRK.B)"
        )
    return value


Address = Annotated[str, AfterValidator(_address)]
Symbol = Annotated[str, AfterValidator(_symbol)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EquityAssetSettings(_Section):
    symbol: Symbol  # the broker's ticker
    tokens: list[Address] = Field(default_factory=list)  # one token = one share
    wrapped_tokens: list[Address] = Field(default_factory=list)  # ERC-4626 wrappers

    @model_validator(mode="after")
    def _has_a_token(self) -> EquityAssetSettings:
        if not self.tokens and not self.wrapped_tokens:
            raise ValueError(f"{self.symbol} names no token: set tokens or wrapped_tokens")
        return self

    def asset(self) -> EquityAsset:
        return EquityAsset(self.symbol, tuple(self.tokens), tuple(self.wrapped_tokens))


class DryRunBrokerSettings(_Section):
    kind: Literal["fractional", "whole_shares"] = "fractional"
    slippage_bps: Decimal = Field(Decimal(5), ge=0, lt=10_000)  # against the maker
    latency_ms: int = Field(200, ge=0, le=600_000)  # working until then
    fill_pieces: int = Field(1, ge=1, le=100)  # > 1: partial fills
    piece_interval_ms: int = Field(1_000, ge=0, le=600_000)
    quotes: dict[Symbol, Decimal] = Field(default_factory=dict)  # USD per share, by symbol
    cash_usd: Decimal = Field(Decimal(1_000_000), ge=0)  # the simulated account's cash
    holdings: dict[Symbol, Decimal] = Field(default_factory=dict)  # shares held at start
    default_holding_shares: Decimal = Field(Decimal(1_000), ge=0)  # of the other symbols

    @model_validator(mode="after")
    def _positive_quotes(self) -> DryRunBrokerSettings:
        bad = [symbol for symbol, price in self.quotes.items() if price <= 0]
        if bad:
            raise ValueError(f"quotes must be positive prices in USD, not for {', '.join(bad)}")
        return self

    @property
    def broker_kind(self) -> BrokerKind:
        return BrokerKind(self.kind)


class AlpacaSettings(_Section):
    """Alpaca: the Trading API (an individual account) or the Broker API (a managed account).
    Keys from the environment only: PEGKEEPER_EQUITIES__ALPACA__KEY_ID and __SECRET_KEY."""

    paper: bool = True  # paper trading (Trading API), the sandbox (Broker API)
    base_url: str = ""  # empty: Alpaca's own host for the API and `paper`
    account_id: str = ""  # alpaca-broker: the managed account's id
    key_id: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    requests_per_minute: int = Field(150, ge=1, le=10_000)  # Alpaca allows 200
    request_timeout_seconds: float = Field(10.0, gt=0)


class SchwabSettings(_Section):
    """The Charles Schwab Trader API. The app's key and secret from the environment only
    (PEGKEEPER_EQUITIES__SCHWAB__APP_KEY, __APP_SECRET); the tokens from `pegkeeper auth
    schwab`, stored encrypted with the key in PEGKEEPER_ENCRYPTION_KEY."""

    base_url: str = ""  # empty: https://api.schwabapi.com
    account_number: str = ""  # empty: the login's only account
    redirect_uri: str = "https://127.0.0.1"  # the callback URL registered with the app
    app_key: SecretStr = SecretStr("")
    app_secret: SecretStr = SecretStr("")
    requests_per_minute: int = Field(100, ge=1, le=10_000)  # Schwab allows 120 for orders
    request_timeout_seconds: float = Field(10.0, gt=0)


class EquitiesSettings(_Section):
    enabled: bool = False
    broker: Literal["dry-run", "alpaca-trading", "alpaca-broker", "schwab"] = "dry-run"
    rpc_url: SecretStr = SecretStr("")  # http(s) or ws(s); PEGKEEPER_EQUITIES__RPC_URL
    orderbook: Address = ""  # the Raindex orderbook contract
    deployment_block: int = Field(0, ge=0)  # the orderbook's first block: read from there
    order_owner: Address = ""  # the maker's address: only its orders count
    usdc: Address = ""
    # the newest block read: the node's "safe" or "finalized" block, or head - N
    cutoff: Literal["safe", "finalized"] | Annotated[int, Field(ge=0, le=10_000)] = "finalized"
    poll_interval_seconds: float = Field(5.0, gt=0)
    range_blocks: int = Field(1_000, ge=1, le=100_000)
    keep_block_hashes: int = Field(128, ge=1, le=100_000)  # checked for reorgs each poll
    request_timeout_seconds: float = Field(30.0, gt=0)
    check_interval_seconds: float = Field(60.0, gt=0)
    min_notional_usd: Decimal = Field(Decimal(2), ge=Decimal(1))  # Alpaca's floor is 1 USD
    order_lookup_window_seconds: float = Field(30.0, gt=0)
    unhedged_alert_seconds: float = Field(600.0, gt=0)
    checkpoint_stall_alert_seconds: float = Field(300.0, gt=0)
    reconcile_interval_seconds: float = Field(60.0, gt=0)
    # market sessions: the broker's calendar ("always-open" hedges around the clock, the
    # dry-run broker's own), the assets hedged in the extended sessions with limit orders at
    # a reference +- slippage, repriced when unfilled after a while
    calendar: Literal["broker", "exchange", "always-open"] = "broker"
    extended_hours: list[Symbol] = Field(default_factory=list)
    extended_slippage_bps: Decimal = Field(Decimal(100), ge=0, lt=10_000)
    reprice_after_seconds: float = Field(300.0, gt=0)
    preflight_slippage_bps: Decimal = Field(Decimal(50), ge=0, lt=10_000)  # a buy's cash margin
    assets: list[EquityAssetSettings] = Field(default_factory=list)
    dry_run: DryRunBrokerSettings = DryRunBrokerSettings()
    alpaca: AlpacaSettings = AlpacaSettings()
    schwab: SchwabSettings = SchwabSettings()
    rebalancing: RebalancingSettings = RebalancingSettings()

    @model_validator(mode="after")
    def _check(self) -> EquitiesSettings:
        if self.broker == "alpaca-broker" and not self.alpaca.account_id:
            raise ValueError(
                'broker = "alpaca-broker" needs alpaca.account_id: the managed account to hedge in'
            )
        unknown = sorted(set(self.extended_hours) - {a.symbol for a in self.assets})
        if unknown:
            raise ValueError(
                f"extended_hours names {', '.join(unknown)}: not among the assets "
                "([[equities.assets]] symbol)"
            )
        if isinstance(self.cutoff, int) and self.keep_block_hashes < self.cutoff:
            raise ValueError(
                f"keep_block_hashes ({self.keep_block_hashes}) must be at least the cutoff's "
                f"depth ({self.cutoff}): reorgs are seen only within the kept hashes"
            )
        _check_names(self.assets)
        _check_addresses(self)
        if self.enabled:
            _check_required(self)
        if self.rebalancing.enabled:
            _check_rebalancing(self)
        return self

    def universe(self) -> EquityUniverse:
        """The configured assets as the domain takes them (refuses what it cannot use)."""
        return EquityUniverse.of(self.order_owner, self.usdc, tuple(a.asset() for a in self.assets))


def _check_names(assets: list[EquityAssetSettings]) -> None:
    seen: dict[str, int] = {}
    for i, asset in enumerate(assets):
        if asset.symbol in seen:
            raise ValueError(
                f"assets[{i}].symbol: {asset.symbol} is named twice "
                f"(also assets[{seen[asset.symbol]}].symbol); name each asset once"
            )
        seen[asset.symbol] = i


def _check_addresses(settings: EquitiesSettings) -> None:
    used: dict[str, str] = {}
    named = [("usdc", settings.usdc)] if settings.usdc else []
    for i, asset in enumerate(settings.assets):
        named += [(f"assets[{i}].tokens[{j}]", a) for j, a in enumerate(asset.tokens)]
        named += [
            (f"assets[{i}].wrapped_tokens[{j}]", a) for j, a in enumerate(asset.wrapped_tokens)
        ]
    for key, address in named:
        if address in used:
            raise ValueError(
                f"{key}: {address} is used twice (also {used[address]}); "
                "each address is one token of one asset"
            )
        used[address] = key


def _check_rebalancing(settings: EquitiesSettings) -> None:
    if settings.broker != "alpaca-broker":
        raise ValueError(
            f'rebalancing needs broker = "alpaca-broker" (the Broker API mints and redeems), '
            f"not {settings.broker!r}"
        )
    symbols = {asset.symbol for asset in settings.assets}
    untokened = [asset.symbol for asset in settings.assets if not asset.tokens]
    if untokened:
        raise ValueError(
            f"rebalancing mints and redeems the stock token: name it in tokens for "
            f"{', '.join(untokened)}"
        )
    missing = sorted(symbols - set(settings.rebalancing.vault_ids))
    if missing:
        raise ValueError(
            f"rebalancing.vault_ids names no vault for {', '.join(missing)}: give each asset's "
            "vault id"
        )
    unknown = sorted(set(settings.rebalancing.bands) - symbols - {CASH_ASSET})
    if unknown:
        raise ValueError(
            f"rebalancing.bands names {', '.join(unknown)}: not among the assets or {CASH_ASSET}"
        )


def _check_required(settings: EquitiesSettings) -> None:
    required = (
        ("rpc_url", settings.rpc_url.get_secret_value(), "a node (or PEGKEEPER_EQUITIES__RPC_URL)"),
        ("orderbook", settings.orderbook, "the Raindex orderbook's address"),
        ("order_owner", settings.order_owner, "the maker's address"),
        ("usdc", settings.usdc, "the USDC token's address"),
    )
    missing = [f"{key} ({what})" for key, value, what in required if not value]
    if missing:
        raise ValueError(f"enabled = true needs {', '.join(missing)}")
    if not settings.assets:
        raise ValueError("enabled = true needs at least one [[equities.assets]] to hedge")
    url = settings.rpc_url.get_secret_value()
    if not url.startswith(("http://", "https://", "ws://", "wss://")):
        raise ValueError("rpc_url: expected an http(s):// or ws(s):// URL")

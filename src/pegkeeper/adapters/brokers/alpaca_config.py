"""Where and how the Alpaca brokers connect: the API (Trading or Broker), the host, the keys
(never shown), and the paths of each request below the API's version."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alpaca.common.enums import BaseURL

from pegkeeper.domain.equities.broker import masked_account


class AlpacaMode(StrEnum):
    TRADING = "trading"
    BROKER = "broker"


@dataclass(frozen=True, slots=True)
class AlpacaPaths:
    """Where each request goes, below the API's version ("/v2" or "/v1")."""

    orders: str
    account: str
    configurations: str
    positions: str
    activities: str
    activity_params: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, mode: AlpacaMode, account_id: str) -> AlpacaPaths:
        if mode is AlpacaMode.TRADING:
            return cls(
                "/orders", "/account", "/account/configurations", "/positions",
                "/account/activities/FILL", (),
            )  # fmt: skip
        base = f"/trading/accounts/{account_id}"
        return cls(
            f"{base}/orders", f"{base}/account", f"{base}/account/configurations",
            f"{base}/positions", "/accounts/activities/FILL", (("account_id", account_id),),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class AlpacaConfig:
    mode: AlpacaMode
    paper: bool
    base_url: str  # "" for Alpaca's own host
    account_id: str  # the managed account (Broker API); "" for the Trading API
    key_id: str
    secret_key: str
    requests_per_minute: int
    request_timeout_seconds: float

    def __repr__(self) -> str:  # never the keys
        return (
            f"AlpacaConfig(mode={self.mode.value}, paper={self.paper}, host={self.host()}, "
            f"account={masked_account(self.account_id)})"
        )

    def host(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        if self.mode is AlpacaMode.TRADING:
            return BaseURL.TRADING_PAPER.value if self.paper else BaseURL.TRADING_LIVE.value
        return BaseURL.BROKER_SANDBOX.value if self.paper else BaseURL.BROKER_PRODUCTION.value


def what_keys(config: AlpacaConfig) -> str:
    """The keys the operator must set, named for the message of a refusal."""
    if config.mode is AlpacaMode.TRADING:
        which = "paper" if config.paper else "live"
        return f"the {which} Trading API keys of the account at {config.host()}"
    which = "sandbox" if config.paper else "live"
    return f"the {which} Broker API keys at {config.host()}"

"""Settings of the venues the hedge trades on: `[venue]`, the one named "primary", and any
number of named ones, `[venues.<name>]`, with the same keys. An allocation leg names its venue
(`venue = "binance"`; without it, the primary).

Credentials come from the environment only: PEGKEEPER_VENUE__API_KEY for the primary,
PEGKEEPER_VENUES__<NAME>__API_KEY for a named one (and __SECRET_KEY, __PASSPHRASE); a file
that sets them is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from pegkeeper.domain.venue import PRIMARY_VENUE

PRIMARY = PRIMARY_VENUE

SECRET_KEYS = ("api_key", "secret_key", "passphrase")
# lower case (the environment's names are read in lower case), single underscores (a double
# one separates the environment's levels), short enough for lease names
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
NAME_MAX_CHARS = 32


class VenueSettings(BaseModel):
    """An exchange the hedger trades on."""

    model_config = ConfigDict(extra="forbid")

    # okx: OKX through ccxt (without keys: the OKX simulator, in-process, so the demo runs
    # the real adapter); ccxt: another derivatives exchange through ccxt; sim: the engine
    # in-process, no wire at all.
    kind: Literal["okx", "ccxt", "sim"] = "okx"
    exchange: Literal["okx", "binancecoinm", "bybit"] = "okx"  # kind = "ccxt" only
    rest_url: str = ""  # empty: the exchange's own
    ws_url: str = ""  # empty: the exchange's own (OKX: the base before /public, /private)
    demo_trading: bool = False  # OKX's demo environment (x-simulated-trading: 1)
    api_key: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    passphrase: SecretStr = SecretStr("")
    leverage: int = Field(4, ge=1, le=100)  # the account check at start expects this
    account_level: int = Field(2, ge=1, le=4)  # OKX acctLv: 2 = single-currency margin
    request_timeout_seconds: float = Field(10.0, gt=0)
    # OKX refuses an order request this long after it was sent (its expTime header): shorter
    # than [cluster] lease_ttl_seconds, so a request delayed past a lease is never executed
    order_expiry_seconds: float = Field(5.0, gt=0)
    retry_attempts: int = Field(3, ge=1)  # reads only; an order is never sent twice
    retry_backoff_seconds: float = Field(0.2, gt=0)  # doubled each attempt, with jitter
    burst_requests: int = Field(20, ge=1)  # pegkeeper's own budget on top of ccxt's limiter
    burst_refill_per_second: float = Field(10.0, gt=0)
    rate_limit_pause_seconds: float = Field(2.0, ge=0)  # after a 429 / 50011, no request
    max_price_age_seconds: float = Field(60.0, gt=0)  # an older mark price is not traded on
    ws_silence_seconds: float = Field(30.0, gt=0)  # a private WebSocket silent this long
    # is closed and reopened, and positions and orders re-read over REST
    ws_fresh_seconds: float = Field(10.0, gt=0)  # pushed positions and balances this recent
    # (and covering every known fill) are used instead of a REST read
    fill_push_wait_seconds: float = Field(0.5, ge=0)  # after a fill, for the push carrying it
    funding_balance_max_age_seconds: float = Field(30.0, ge=0)  # OKX pushes no funding balance

    def has_credentials(self) -> bool:
        """Whether the keys the exchange asks for are set (a passphrase: OKX only)."""
        okx = self.kind == "okx" or self.exchange == "okx"
        needed = SECRET_KEYS if okx else ("api_key", "secret_key")
        return all(getattr(self, name).get_secret_value() for name in needed)


def section_of(name: str) -> str:
    """Where a venue is configured: `[venue]` for the primary, `[venues.<name>]` otherwise."""
    return "[venue]" if name == PRIMARY else f"[venues.{name}]"


def env_prefix_of(name: str) -> str:
    """primary -> PEGKEEPER_VENUE__, binance -> PEGKEEPER_VENUES__BINANCE__"""
    return "PEGKEEPER_VENUE__" if name == PRIMARY else f"PEGKEEPER_VENUES__{name.upper()}__"


def check_names(names: Sequence[str]) -> None:
    """Raises ValueError naming a venue name that cannot be used."""
    for name in names:
        if name == PRIMARY:
            raise ValueError(
                f"{PRIMARY!r} is the venue of [venue]: name the other venues otherwise"
            )
        if not _NAME.match(name) or len(name) > NAME_MAX_CHARS:
            raise ValueError(
                f"venue name {name!r}: expected lower-case letters and digits, words joined by "
                f"single underscores, at most {NAME_MAX_CHARS} characters (e.g. 'binance')"
            )


def check_legs(leg_venues: Sequence[tuple[str, str]], named: Sequence[str]) -> None:
    """Every leg (instrument, venue) names a configured venue, and every named venue carries
    a leg. Raises ValueError naming the leg and the venues configured."""
    configured = [PRIMARY, *named]
    listed = ", ".join(f"{name} ({section_of(name)})" for name in configured)
    for index, (instrument_id, venue) in enumerate(leg_venues, start=1):
        if venue not in configured:
            raise ValueError(
                f"[allocation] leg {index} ({instrument_id}) names the venue {venue!r}, which "
                f"is not configured; venues configured: {listed}"
            )
    used = {venue for _, venue in leg_venues}
    for name in named:
        if name not in used:
            raise ValueError(
                f"{section_of(name)} carries no hedge: no [allocation] leg names "
                f'venue = "{name}"; add a leg on it or remove the section'
            )


def file_secrets(table: Mapping[str, Any]) -> list[str]:
    """The secret keys of the named venues a config file could set (`venues.<name>.<key>`)."""
    venues = table.get("venues")
    if not isinstance(venues, Mapping):
        return []
    return [f"venues.{name}.{key}" for name in venues for key in SECRET_KEYS]


def is_secret_key(key: str) -> bool:
    """Whether a dotted key is a named venue's credential (never shown in an error)."""
    parts = key.split(".")
    return len(parts) == 3 and parts[0] == "venues" and parts[2] in SECRET_KEYS

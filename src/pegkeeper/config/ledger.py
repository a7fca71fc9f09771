"""Settings of the `[ledger]` section: where the liability comes from.

Secrets (the Galoy API key or login code, the PostgreSQL DSN with its password) come from the
environment only: PEGKEEPER_LEDGER__GALOY__API_KEY, PEGKEEPER_LEDGER__GALOY__CODE,
PEGKEEPER_LEDGER__POSTGRES__DSN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

# every secret of this section, as `section.key` in the file
LEDGER_SECRETS = ("ledger.galoy.api_key", "ledger.galoy.code", "ledger.postgres.dsn")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GaloyLedgerSettings(_Section):
    api_url: str = "https://api.blink.sv/graphql"
    # the account's API key (X-API-KEY), recommended: environment only; without it, phone + code
    api_key: SecretStr = SecretStr("")
    phone: str = ""  # the dealer account's phone number, with its country code
    code: SecretStr = SecretStr("")  # the account's login code: environment only
    poll_interval_seconds: float = Field(10.0, gt=0)
    page_size: int = Field(100, ge=1, le=100)  # transactions(last: N)
    request_timeout_seconds: float = Field(10.0, gt=0)
    recheck_interval_seconds: float = Field(86_400.0, gt=0)  # unpaired transactions, daily
    unpaired_window_seconds: float = Field(600.0, gt=0)


class PostgresLedgerSettings(_Section):
    dsn: SecretStr = SecretStr("")  # postgresql://user:password@host/db: environment only
    query: str = ""  # one row, one integer column: the liability in cents
    poll_interval_seconds: float = Field(10.0, gt=0)
    timeout_seconds: float = Field(10.0, gt=0)


class LedgerSettings(_Section):
    source: Literal["http", "galoy", "postgres"] = "http"
    half_imported_threshold: int = Field(2, ge=1)
    stale_after_seconds: float = Field(300.0, gt=0)
    failed_polls_not_ready: int = Field(3, ge=1)  # reads failed in a row: the gate closes
    max_backoff_seconds: float = Field(300.0, gt=0)
    galoy: GaloyLedgerSettings = GaloyLedgerSettings()
    postgres: PostgresLedgerSettings = PostgresLedgerSettings()

    @model_validator(mode="after")
    def _check_source(self) -> LedgerSettings:
        missing: list[str] = []
        if self.source == "galoy":
            if not self.galoy.api_url:
                missing.append("[ledger.galoy] api_url")
            galoy = self.galoy
            phone_and_code = bool(galoy.phone and galoy.code.get_secret_value())
            if not (galoy.api_key.get_secret_value() or phone_and_code):
                missing.append(
                    "an API key in PEGKEEPER_LEDGER__GALOY__API_KEY (or, for a test account, "
                    "[ledger.galoy] phone and the login code in PEGKEEPER_LEDGER__GALOY__CODE)"
                )
        if self.source == "postgres":
            if not self.postgres.dsn.get_secret_value():
                missing.append("the DSN in PEGKEEPER_LEDGER__POSTGRES__DSN")
            if not self.postgres.query.strip():
                missing.append("[ledger.postgres] query")
        if missing:
            raise ValueError(f'source = "{self.source}" needs {" and ".join(missing)}')
        return self


def secrets_in(table: dict[str, Any], names: Sequence[str]) -> list[str]:
    """Which of the secrets `names` (`section.key`) a config file sets (they are refused)."""
    found = []
    for secret in names:
        *path, key = secret.split(".")
        section: Any = table
        for part in path:
            section = section.get(part) if isinstance(section, dict) else None
        if isinstance(section, dict) and section.get(key):
            found.append(secret)
    return found


def secret_env_name(key: str) -> str:
    """ledger.galoy.code -> PEGKEEPER_LEDGER__GALOY__CODE"""
    return "PEGKEEPER_" + "__".join(part.upper() for part in key.split("."))

"""Settings of the web dashboard and its operator actions (`[web]`).

Operator and service tokens are credentials: read from the environment only
(`PEGKEEPER_WEB__OPERATOR_TOKENS="alice:TOKEN,bob:TOKEN"`,
`PEGKEEPER_WEB__SERVICE_TOKENS="wallet:TOKEN"`), never from a file. Without operator tokens,
the dashboard is read-only; without service tokens, liability changes are taken only while the
server listens on this machine alone (`[http] host` a loopback address).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

OPERATOR_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_TOKEN_CHARS = 16
FILE_FORBIDDEN_KEYS = ("operator_tokens", "service_tokens")


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # name:token pairs separated by commas; the name is who the audit trail records
    operator_tokens: SecretStr = SecretStr("")
    # name:token pairs of the programs that post liability changes (POST /api/v1/liability/events)
    service_tokens: SecretStr = SecretStr("")
    heartbeat_seconds: float = Field(1.0, gt=0, le=60)  # the live page's pulse (server-sent)
    venue_failures_not_ready: int = Field(3, ge=1)  # hedge cycles failed in a row: not ready

    @field_validator("operator_tokens")
    @classmethod
    def _check_tokens(cls, value: SecretStr) -> SecretStr:
        parse_operator_tokens(value.get_secret_value())
        return value

    @field_validator("service_tokens")
    @classmethod
    def _check_service_tokens(cls, value: SecretStr) -> SecretStr:
        parse_operator_tokens(value.get_secret_value(), role="service")
        return value

    def tokens(self) -> dict[str, str]:
        """Operator name -> token."""
        return parse_operator_tokens(self.operator_tokens.get_secret_value())

    def service_token_map(self) -> dict[str, str]:
        """Service name -> token."""
        return parse_operator_tokens(self.service_tokens.get_secret_value(), role="service")


def parse_operator_tokens(text: str, role: str = "operator") -> dict[str, str]:
    """`"alice:TOKEN,bob:TOKEN"` -> {"alice": "TOKEN", ...}; ValueError naming what is wrong
    (never the token itself)."""
    tokens: dict[str, str] = {}
    for number, entry in enumerate((e.strip() for e in text.split(",") if e.strip()), start=1):
        name, colon, token = entry.partition(":")
        name = name.strip()
        if not colon or not OPERATOR_NAME.match(name):
            raise ValueError(
                f"{role} token entry {number} must be NAME:TOKEN with a name of 1 to 64 "
                "letters, digits or _.@-"
            )
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"the token of {role} {name!r} is {len(token)} characters; use at least "
                f"{MIN_TOKEN_CHARS} (e.g. from `openssl rand -hex 24`)"
            )
        if name in tokens:
            raise ValueError(f"{role} {name!r} is named twice")
        if token in tokens.values():
            raise ValueError(f"{role} {name!r} shares a token with another {role}")
        tokens[name] = token
    return tokens

"""The encryption key of the broker logins: read from PEGKEEPER_ENCRYPTION_KEY, refused when
missing or malformed with the variable named; tokens and the key never shown."""

from __future__ import annotations

import secrets

import pytest

from pegkeeper.adapters.store.token_store import (
    ENCRYPTION_KEY_ENV,
    EncryptionKeyError,
    TokenCipher,
)
from pegkeeper.domain.credentials import OAuthTokens
from pegkeeper.domain.errors import VenueMisconfigured

TOKENS = OAuthTokens("access-secret-1", "refresh-secret-2", 1_800_000, 604_800_000)


@pytest.mark.parametrize(
    ("environ", "found"),
    [
        ({}, "is not set"),
        ({ENCRYPTION_KEY_ENV: "   "}, "is not set"),
        ({ENCRYPTION_KEY_ENV: "ab" * 16}, "32 characters"),
        ({ENCRYPTION_KEY_ENV: "ab" * 33}, "66 characters"),
        ({ENCRYPTION_KEY_ENV: "zz" * 32}, "not hexadecimal"),
    ],
)
def test_a_missing_or_malformed_key_is_refused_naming_the_variable_and_the_form(
    environ: dict[str, str], found: str
) -> None:
    with pytest.raises(EncryptionKeyError) as refused:
        TokenCipher.from_environment(environ)

    message = str(refused.value)
    assert message.startswith(ENCRYPTION_KEY_ENV)
    assert found in message
    assert "64 hexadecimal characters" in message
    assert isinstance(refused.value, VenueMisconfigured)  # pegkeeper refuses to start


def test_the_key_in_the_environment_is_taken_around_blanks_and_in_either_case() -> None:
    key_hex = secrets.token_hex(32)
    lower = TokenCipher.from_environment({ENCRYPTION_KEY_ENV: f" {key_hex}\n"})
    upper = TokenCipher.from_environment({ENCRYPTION_KEY_ENV: key_hex.upper()})

    sealed = lower.seal("schwab", TOKENS, now_ms=5)

    assert upper.open(sealed) == TOKENS
    assert key_hex not in repr(lower) and key_hex.upper() not in repr(upper)


def test_every_seal_draws_a_new_nonce() -> None:
    cipher = TokenCipher(secrets.token_bytes(32))

    nonces = {cipher.seal("schwab", TOKENS, now_ms=1).nonce for _ in range(50)}

    assert len(nonces) == 50


def test_tokens_are_left_out_of_reprs() -> None:
    cipher = TokenCipher(secrets.token_bytes(32))
    sealed = cipher.seal("schwab", TOKENS, now_ms=1)

    for shown in (repr(TOKENS), str(TOKENS), repr(sealed)):
        assert "access-secret-1" not in shown and "refresh-secret-2" not in shown
    assert "1800000" in repr(TOKENS)


def test_empty_tokens_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        OAuthTokens("", "refresh", 1, 2)

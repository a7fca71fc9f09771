"""Broker logins encrypted in the store, on SQLite and PostgreSQL: the migration, the round
trip, a new nonce per write, no token in plain text in the database, a wrong key refused."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, text

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.store.token_store import (
    ENCRYPTION_KEY_ENV,
    EncryptedTokenStore,
    TokenCipher,
    TokensUnreadable,
)
from pegkeeper.adapters.store.token_tables import TOKEN_TABLES, broker_tokens
from pegkeeper.domain.credentials import OAuthTokens, SealedTokens
from tests.integration.store.schema_support import downgrade_and_upgrade, schema_differences

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ACCESS = "access-I0Fs2kJqQyWvY7tX"
REFRESH = "refresh-Zr9pLmN3cBvX5tQw"


def _tokens(access: str = ACCESS, refresh: str = REFRESH) -> OAuthTokens:
    return OAuthTokens(
        access_token=access,
        refresh_token=refresh,
        access_expires_at_ms=START_MS + 1_800_000,
        refresh_expires_at_ms=START_MS + 7 * 86_400_000,
    )


def _vault(store: SqlStore, key_hex: str) -> EncryptedTokenStore:
    return EncryptedTokenStore(
        store.broker_tokens, TokenCipher.from_hex(key_hex), ManualClock(START_MS)
    )


async def test_the_migration_creates_the_token_table_as_declared_and_downgrades(
    store: SqlStore,
) -> None:
    async with store.engine.begin() as conn:
        assert await conn.run_sync(schema_differences, TOKEN_TABLES) == []
        without, again = await conn.run_sync(downgrade_and_upgrade, "0012")
    assert "broker_tokens" not in without
    assert "broker_tokens" in again


async def test_no_login_is_none_and_a_saved_one_loads_back_equal(store: SqlStore) -> None:
    vault = _vault(store, secrets.token_hex(32))
    assert await vault.load("schwab") is None

    await vault.save("schwab", _tokens())

    assert await vault.load("schwab") == _tokens()
    assert await vault.load("other") is None


async def test_a_second_save_replaces_the_row_under_a_new_nonce(store: SqlStore) -> None:
    vault = _vault(store, secrets.token_hex(32))
    await vault.save("schwab", _tokens())
    first = await store.broker_tokens.sealed_tokens("schwab")
    renewed = _tokens(access="access-second-9fKq")

    await vault.save("schwab", renewed)

    second = await store.broker_tokens.sealed_tokens("schwab")
    assert first is not None and second is not None
    assert second.nonce != first.nonce
    assert len(second.nonce) == 12
    assert await vault.load("schwab") == renewed
    async with store.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM broker_tokens")) == 1


async def test_the_database_holds_no_token_in_plain_text(store: SqlStore) -> None:
    await _vault(store, secrets.token_hex(32)).save("schwab", _tokens())

    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(broker_tokens))).all()
    assert len(rows) == 1
    for value in rows[0]:
        raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for token in (ACCESS, REFRESH):
            assert token.encode() not in raw
            assert token.encode().hex().encode() not in raw
    row = rows[0]._mapping
    assert row["broker"] == "schwab"
    assert row["access_expires_at_ms"] == START_MS + 1_800_000
    assert row["refresh_expires_at_ms"] == START_MS + 604_800_000
    assert row["updated_at_ms"] == START_MS


async def test_the_ciphertext_is_aes_gcm_under_the_key_with_the_broker_bound(
    store: SqlStore,
) -> None:
    key_hex = secrets.token_hex(32)
    await _vault(store, key_hex).save("schwab", _tokens())
    sealed = await store.broker_tokens.sealed_tokens("schwab")
    assert sealed is not None

    plain = AESGCM(bytes.fromhex(key_hex)).decrypt(
        sealed.nonce, sealed.ciphertext, b"pegkeeper broker_tokens schwab"
    )

    assert ACCESS.encode() in plain and REFRESH.encode() in plain


async def test_a_wrong_key_is_refused_with_a_clear_error_and_no_token(store: SqlStore) -> None:
    await _vault(store, secrets.token_hex(32)).save("schwab", _tokens())

    with pytest.raises(TokensUnreadable) as refused:
        await _vault(store, secrets.token_hex(32)).load("schwab")

    message = str(refused.value)
    assert ENCRYPTION_KEY_ENV in message
    assert "pegkeeper auth schwab" in message
    assert ACCESS not in message and REFRESH not in message


async def test_a_row_moved_to_another_brokers_name_does_not_decrypt(store: SqlStore) -> None:
    key_hex = secrets.token_hex(32)
    vault = _vault(store, key_hex)
    await vault.save("schwab", _tokens())
    sealed = await store.broker_tokens.sealed_tokens("schwab")
    assert sealed is not None

    await store.broker_tokens.store_sealed_tokens(
        SealedTokens(
            broker="alpaca",
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
            access_expires_at_ms=sealed.access_expires_at_ms,
            refresh_expires_at_ms=sealed.refresh_expires_at_ms,
            updated_at_ms=sealed.updated_at_ms,
        )
    )

    with pytest.raises(TokensUnreadable):
        await vault.load("alpaca")

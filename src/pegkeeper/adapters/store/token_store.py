"""Broker logins encrypted at rest (specs/equities.md, "Schwab OAuth"): AES-256-GCM with the
key in PEGKEEPER_ENCRYPTION_KEY (32 bytes as 64 hexadecimal characters).

Every write draws a new random 12-byte nonce; the broker's name is the associated data, so a
row copied under another broker's name does not decrypt. A key that is missing or malformed is
refused before anything is read or written; one that does not open the stored tokens is
refused too (TokensUnreadable): nothing ever falls back to plain text. The key and the tokens
never appear in a repr, a log or an error message.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pegkeeper.adapters.store.token_tables import NONCE_BYTES
from pegkeeper.domain.credentials import OAuthTokens, SealedTokens
from pegkeeper.domain.errors import VenueMisconfigured
from pegkeeper.ports import Clock, TokenRepository

ENCRYPTION_KEY_ENV = "PEGKEEPER_ENCRYPTION_KEY"
KEY_HEX_CHARS = 64  # 32 bytes: AES-256
_HEX_KEY = re.compile(rf"^[0-9a-fA-F]{{{KEY_HEX_CHARS}}}$")
_KEY_HINT = (
    f"expected {KEY_HEX_CHARS} hexadecimal characters (32 random bytes), e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_hex(32))'`, kept as secret as the tokens"
)


class EncryptionKeyError(VenueMisconfigured):
    """PEGKEEPER_ENCRYPTION_KEY is missing or malformed."""


class TokensUnreadable(VenueMisconfigured):
    """The stored tokens do not decrypt with the key given (another key, or an altered row)."""


class TokenCipher:
    """AES-256-GCM over one broker's tokens; the key stays inside."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_HEX_CHARS // 2:
            raise EncryptionKeyError(f"the encryption key must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def from_hex(cls, text: str) -> TokenCipher:
        text = text.strip()
        if not text:
            raise EncryptionKeyError(f"{ENCRYPTION_KEY_ENV} is not set: {_KEY_HINT}")
        if not _HEX_KEY.match(text):
            found = (
                f"{len(text)} characters"
                if len(text) != KEY_HEX_CHARS
                else "characters that are not hexadecimal"
            )
            raise EncryptionKeyError(f"{ENCRYPTION_KEY_ENV} is malformed ({found}): {_KEY_HINT}")
        return cls(bytes.fromhex(text))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> TokenCipher:
        """The cipher of the key in PEGKEEPER_ENCRYPTION_KEY; EncryptionKeyError naming the
        variable when it is missing or not 64 hexadecimal characters."""
        env = os.environ if environ is None else environ
        return cls.from_hex(env.get(ENCRYPTION_KEY_ENV, ""))

    def __repr__(self) -> str:
        return "TokenCipher(key hidden)"

    def seal(self, broker: str, tokens: OAuthTokens, now_ms: int) -> SealedTokens:
        nonce = secrets.token_bytes(NONCE_BYTES)
        plain = orjson.dumps(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "access_expires_at_ms": tokens.access_expires_at_ms,
                "refresh_expires_at_ms": tokens.refresh_expires_at_ms,
            }
        )
        return SealedTokens(
            broker=broker,
            nonce=nonce,
            ciphertext=self._aead.encrypt(nonce, plain, _associated(broker)),
            access_expires_at_ms=tokens.access_expires_at_ms,
            refresh_expires_at_ms=tokens.refresh_expires_at_ms,
            updated_at_ms=now_ms,
        )

    def open(self, sealed: SealedTokens) -> OAuthTokens:
        try:
            plain = self._aead.decrypt(sealed.nonce, sealed.ciphertext, _associated(sealed.broker))
        except (InvalidTag, ValueError):
            raise TokensUnreadable(
                f"the stored {sealed.broker} login cannot be decrypted with "
                f"{ENCRYPTION_KEY_ENV}: it is not the key it was stored with, or the row was "
                f"altered; set the key used at the login, or log in again with "
                f"`pegkeeper auth {sealed.broker}`"
            ) from None
        fields = orjson.loads(plain)
        return OAuthTokens(
            access_token=fields["access_token"],
            refresh_token=fields["refresh_token"],
            access_expires_at_ms=fields["access_expires_at_ms"],
            refresh_expires_at_ms=fields["refresh_expires_at_ms"],
        )


def _associated(broker: str) -> bytes:
    return f"pegkeeper broker_tokens {broker}".encode()


class EncryptedTokenStore:
    """The TokenStore port: tokens sealed by `cipher` into `repository`'s rows."""

    def __init__(self, repository: TokenRepository, cipher: TokenCipher, clock: Clock) -> None:
        self._repository = repository
        self._cipher = cipher
        self._clock = clock

    async def load(self, broker: str) -> OAuthTokens | None:
        sealed = await self._repository.sealed_tokens(broker)
        return None if sealed is None else self._cipher.open(sealed)

    async def save(self, broker: str, tokens: OAuthTokens) -> None:
        sealed = self._cipher.seal(broker, tokens, self._clock.now_ms())
        await self._repository.store_sealed_tokens(sealed)

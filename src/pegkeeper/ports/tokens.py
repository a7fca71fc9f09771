"""Where broker logins are kept: OAuth tokens, encrypted at rest."""

from __future__ import annotations

from typing import Protocol

from pegkeeper.domain.credentials import OAuthTokens, SealedTokens


class TokenRepository(Protocol):
    """The database's side: sealed (encrypted) tokens, one row per broker."""

    async def sealed_tokens(self, broker: str) -> SealedTokens | None: ...

    async def store_sealed_tokens(self, sealed: SealedTokens) -> None:
        """Replaces the broker's row (creates it on the first login)."""
        ...


class TokenStore(Protocol):
    """A broker's tokens in the clear for the adapter that uses them; encrypted before they
    reach the database. Raises VenueMisconfigured when the stored tokens cannot be decrypted
    (a wrong key): never falls back to anything else."""

    async def load(self, broker: str) -> OAuthTokens | None:
        """None before the first login."""
        ...

    async def save(self, broker: str, tokens: OAuthTokens) -> None: ...

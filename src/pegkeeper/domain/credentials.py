"""A broker login's OAuth tokens (specs/equities.md, "Schwab OAuth") and the form the store keeps
them in: encrypted, with only their expiry times readable.

A token never appears in a repr, a log or an error: the fields that hold one are left out of
the dataclass's repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class OAuthTokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at_ms: int  # unix ms; Schwab: 30 minutes after it was issued
    refresh_expires_at_ms: int  # unix ms; Schwab: 7 days after the login, never extended

    def __post_init__(self) -> None:
        if not self.access_token or not self.refresh_token:
            raise ValueError("OAuth tokens must not be empty")

    def access_valid(self, now_ms: int, margin_ms: int) -> bool:
        """The access token still works for at least `margin_ms`."""
        return now_ms + margin_ms < self.access_expires_at_ms

    def refresh_valid(self, now_ms: int) -> bool:
        return now_ms < self.refresh_expires_at_ms


@dataclass(frozen=True, slots=True)
class SealedTokens:
    """One broker's OAuthTokens as the database holds them: AES-256-GCM ciphertext under a
    nonce used once, and the expiry times in the clear (a readiness check reads them without
    the key; the decrypted payload is what counts)."""

    broker: str
    nonce: bytes
    ciphertext: bytes = field(repr=False)
    access_expires_at_ms: int
    refresh_expires_at_ms: int
    updated_at_ms: int

"""Broker logins (migration 0013), beside `tables.py`: one row per broker, replaced at every
login and token refresh (a credential, not money: its history is not kept).

The tokens are AES-256-GCM ciphertext (adapters.store.token_store); the nonce is the one used
for this ciphertext, 12 bytes, never reused; the expiry times are in the clear.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, LargeBinary, String, Table

from pegkeeper.adapters.store.tables import NAME, metadata
from pegkeeper.adapters.store.types import RowId

NONCE_BYTES = 12

broker_tokens = Table(
    "broker_tokens",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("broker", String(NAME), nullable=False, unique=True),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("access_expires_at_ms", BigInteger, nullable=False),
    Column("refresh_expires_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    CheckConstraint(f"length(nonce) = {NONCE_BYTES}", name="nonce_12_bytes"),
)

TOKEN_TABLES = (broker_tokens,)

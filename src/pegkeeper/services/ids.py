"""Identifiers pegkeeper chooses: client order ids (1 to 32 alphanumerics), correlation ids."""

from __future__ import annotations

import hashlib
import os

# A version-4 UUID's fixed bits (RFC 4122): the variant (10) and the version (0100).
_FIXED_BITS_MASK = (0xC000 << 48) | (0xF000 << 64)
_FIXED_BITS = (0x8000 << 48) | (4 << 76)


def new_client_order_id(prefix: str = "pk") -> str:
    return f"{prefix}{_uuid4_hex()}"[:32]


def new_correlation_id() -> str:
    return _uuid4_hex()


def _uuid4_hex() -> str:
    """`uuid.uuid4().hex` without making the UUID object, which costs more than the random
    bits themselves on the paths that stamp every event (a backtest makes ~30 000 a run)."""
    value = int.from_bytes(os.urandom(16), "big") & ~_FIXED_BITS_MASK | _FIXED_BITS
    return f"{value:032x}"


def broker_client_order_id(symbol: str, sequence: int, prefix: str = "eq") -> str:
    """The client order id of a symbol's `sequence`-th hedge order: the same inputs give the
    same id, so two attempts at the same order are one order at the broker. Alphanumerics only,
    at most 32: the ticker's letters (shortened), a digest of the whole ticker (BRK.B and BRKB
    differ), the sequence."""
    if sequence < 0:
        raise ValueError(f"sequence must be >= 0, got {sequence}")
    letters = "".join(c for c in symbol.upper() if c.isascii() and c.isalnum())[:8]
    digest = hashlib.sha256(symbol.encode()).hexdigest()[:6]
    return f"{prefix}{letters}{digest}n{sequence}"[:32]

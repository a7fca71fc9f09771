"""Identifiers pegkeeper chooses: client order ids (1 to 32 alphanumerics), correlation ids."""

from __future__ import annotations

import hashlib
import uuid


def new_client_order_id(prefix: str = "pk") -> str:
    return f"{prefix}{uuid.uuid4().hex}"[:32]


def new_correlation_id() -> str:
    return uuid.uuid4().hex


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

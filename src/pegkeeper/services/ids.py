"""Identifiers pegkeeper chooses: client order ids (1 to 32 alphanumerics), correlation ids."""

from __future__ import annotations

import hashlib
import os
import threading

# A version-4 UUID's fixed bits (RFC 4122): the variant (10) and the version (0100).
_FIXED_BITS_MASK = (0xC000 << 48) | (0xF000 << 64)
_FIXED_BITS = (0x8000 << 48) | (4 << 76)
_BATCH = 256  # random values read from the OS at a time


def new_client_order_id(prefix: str = "pk") -> str:
    return f"{prefix}{_uuid4_hex()}"[:32]


def new_correlation_id() -> str:
    return _uuid4_hex()


def _uuid4_hex() -> str:
    """`uuid.uuid4().hex`: the same random bits from the OS, read for 256 ids at a time
    rather than one system call (and one UUID object) per id, on the paths that stamp every
    event (a backtest makes ~30 000 a run)."""
    return f"{_random_128() & ~_FIXED_BITS_MASK | _FIXED_BITS:032x}"


class _RandomPool:
    """128-bit values from os.urandom, drawn once each; a forked child starts afresh, so
    that it never hands out the values its parent will."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: list[int] = []

    def draw(self) -> int:
        with self._lock:
            if not self._values:
                data = os.urandom(16 * _BATCH)
                self._values = [
                    int.from_bytes(data[i : i + 16], "big") for i in range(0, len(data), 16)
                ]
            return self._values.pop()

    def forget(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it at the fork
        self._values = []


_pool = _RandomPool()
_random_128 = _pool.draw
os.register_at_fork(after_in_child=_pool.forget)


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

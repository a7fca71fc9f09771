"""Allocating fills to each other, oldest first, and the ledger's invariants (see ledger.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.equities.ledger import LedgerSnapshot, OpenPiece


def allocate(
    sign: int, quantity: Decimal, opposite: Sequence[OpenPiece]
) -> list[tuple[str, Decimal]]:
    """How much of `quantity` (> 0, direction `sign`) each open piece of the opposite sign
    covers, oldest `position` first, until the quantity or the pieces run out. Pieces of the
    same sign, or with nothing remaining, are passed over."""
    covered: list[tuple[str, Decimal]] = []
    left = quantity
    for piece in sorted(opposite, key=lambda p: p.position):
        if left <= 0:
            break
        if piece.sign == sign or piece.remaining <= 0:
            continue
        take = min(left, piece.remaining)
        covered.append((piece.piece_id, take))
        left -= take
    return covered


@dataclass(frozen=True, slots=True)
class LedgerBreak:
    """One broken invariant: `scope` is "order", "fill" or "symbol", `key` its id."""

    scope: str
    key: str
    detail: str


def ledger_breaks(snapshot: LedgerSnapshot) -> list[LedgerBreak]:
    """Every invariant of the fill-to-hedge ledger that `snapshot` breaks:
    per broker order, its fills sum to its filled quantity and their allocations never exceed
    it; per broker fill and per onchain fill, allocations never exceed its quantity and only
    join opposite signs of the same symbol; no allocation points at a reverted fill; per
    symbol, the sum of uncovered onchain and broker remainders equals onchain net + broker net,
    and open onchain and broker remainders of opposite signs never coexist."""
    raise NotImplementedError

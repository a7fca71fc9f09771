"""A roll of a dated future to the next expiry: one decision, two orders (the next expiry
opened first, so the hedge stays covered, then the old one closed by the same size)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class RollRecord:
    roll_id: str
    decision_id: str
    correlation_id: str
    created_at_ms: int
    from_instrument_id: str
    to_instrument_id: str
    size_contracts: Decimal  # moved in this roll
    from_position_contracts: Decimal  # signed, on the old expiry before the roll
    open_client_order_id: str  # sells on the new expiry
    close_client_order_id: str  # buys back on the old one

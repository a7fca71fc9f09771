"""What a dated future's basis earned or cost, apart from the tracking error.

The tracking error measures the hedge against the spot price: a future's fill is booked as a
fill of the same contracts at the spot price of its moment, so a short of N contracts counts as
N x 100 USD of hedge on any instrument. What the future adds is its basis b = F / S - 1: a
position q (signed contracts of face value V) opened at basis b0 and closed at b1 earns
-q * V * (b0 - b1) USD against the same position at spot (a short opened at a premium earns it
as the future converges to spot at expiry; one opened at a discount pays it). That is the
future's carry, counted as a cost beside funding: realised as the position shrinks (a fill, a
roll, a liquidation, a delivery at b1 = 0); what is still open at the end of the run is
valued at the basis then, counted when it is a loss and not when it is a gain (the runner).
The entry basis is averaged over the contracts held, as an average price is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Held:
    contracts: float = 0.0  # signed
    entry_basis: float = 0.0  # contract-weighted average of the basis at each opening fill


class BasisBook:
    def __init__(self, face_usd: float) -> None:
        self._face = face_usd
        self._held: dict[str, _Held] = {}

    def trade(self, instrument_id: str, signed_contracts: float, basis: float) -> float:
        """A fill (or any other change of the position) at `basis`; the USD earned by the
        contracts it closed (negative: paid)."""
        held = self._held.setdefault(instrument_id, _Held())
        before = held.contracts
        after = before + signed_contracts
        earned = 0.0
        if before != 0 and (after == 0 or (after > 0) != (before > 0) or abs(after) < abs(before)):
            closed = before if (after == 0 or (after > 0) != (before > 0)) else before - after
            earned = -closed * self._face * (held.entry_basis - basis)
        if after == 0:
            held.contracts, held.entry_basis = 0.0, 0.0
        elif before == 0 or (after > 0) != (before > 0):
            held.contracts, held.entry_basis = after, basis  # opened afresh at this basis
        elif abs(after) > abs(before):
            weight = abs(signed_contracts) / abs(after)
            held.entry_basis += (basis - held.entry_basis) * weight
            held.contracts = after
        else:
            held.contracts = after
        return earned

    def contracts(self, instrument_id: str) -> float:
        held = self._held.get(instrument_id)
        return held.contracts if held is not None else 0.0

    def open_value_usd(self, basis_of: dict[str, float]) -> float:
        """What the positions still open would earn if closed at these bases."""
        total = 0.0
        for instrument_id, held in self._held.items():
            if held.contracts:
                basis = basis_of.get(instrument_id, 0.0)
                total += -held.contracts * self._face * (held.entry_basis - basis)
        return total

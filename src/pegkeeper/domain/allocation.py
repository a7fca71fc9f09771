"""Which instruments carry the hedge: the liability split across legs by weight, and the
rolling quarterly future.

A leg is an instrument on a venue with a weight. The liability is split in whole cents so
that the legs' shares always add up to it exactly (largest remainder; ties to the earlier
leg). A leg named `BTC-USD-QUARTERLY` holds OKX's inverse quarterly future and rolls to the
next expiry `roll_lead_ms` before the one it holds settles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.instruments import btc_usd_future, quarterly_expiries_ms
from pegkeeper.domain.venue import PRIMARY_VENUE

ROLLING_QUARTERLY = "BTC-USD-QUARTERLY"
_DATED_INVERSE = re.compile(r"^BTC-USD-\d{6}$")


@dataclass(frozen=True, slots=True)
class HedgeLeg:
    instrument_id: str  # a venue's instrument, or ROLLING_QUARTERLY
    weight: Decimal = Decimal(1)
    venue: str = PRIMARY_VENUE

    def __post_init__(self) -> None:
        if not self.instrument_id:
            raise InvalidInput("a hedge leg needs an instrument_id")
        if not self.weight.is_finite() or self.weight <= 0:
            raise InvalidInput(f"the weight of {self.instrument_id} must be positive")

    @property
    def rolls(self) -> bool:
        return self.instrument_id == ROLLING_QUARTERLY

    def owns(self, instrument_id: str) -> bool:
        """Whether an order on `instrument_id` is this leg's (a rolling leg's are every dated
        BTC-USD future it held or holds)."""
        if self.rolls:
            return bool(_DATED_INVERSE.match(instrument_id))
        return instrument_id == self.instrument_id


@dataclass(frozen=True, slots=True)
class Allocation:
    legs: tuple[HedgeLeg, ...]

    def __post_init__(self) -> None:
        if not self.legs:
            raise InvalidInput("an allocation needs at least one leg")
        seen: set[str] = set()
        for leg in self.legs:
            # orders are told apart by instrument: one instrument id, one leg, on any venue
            if leg.instrument_id in seen:
                raise InvalidInput(f"{leg.instrument_id} is allocated twice")
            seen.add(leg.instrument_id)
        rolling = [leg for leg in self.legs if leg.rolls]
        dated = [leg for leg in self.legs if _DATED_INVERSE.match(leg.instrument_id)]
        if rolling and dated:
            raise InvalidInput(
                f"{ROLLING_QUARTERLY} rolls through every dated BTC-USD future: do not also "
                f"allocate {dated[0].instrument_id}"
            )

    @classmethod
    def single(cls, instrument_id: str) -> Allocation:
        return cls((HedgeLeg(instrument_id),))

    def split_cents(self, liability_cents: int) -> list[int]:
        return split_cents(liability_cents, [leg.weight for leg in self.legs])


def split_cents(total_cents: int, weights: Sequence[Decimal]) -> list[int]:
    """Whole-cent shares in proportion to `weights` that add up to `total_cents` exactly (a
    weight of 0, which the carry allocation gives a leg it emptied, gets nothing)."""
    if total_cents < 0:
        raise ValueError(f"cannot split a negative amount: {total_cents}")
    if len(weights) == 1 and weights[0] > 0:
        return [total_cents]  # what the arithmetic below gives one leg, without it
    if not weights or any(w < 0 for w in weights) or not any(w > 0 for w in weights):
        raise ValueError("weights must be positive, or zero beside a positive one")
    total_weight = sum(weights, Decimal(0))
    exact = [Decimal(total_cents) * w / total_weight for w in weights]
    shares = [int(x.to_integral_value(rounding=ROUND_FLOOR)) for x in exact]
    left = total_cents - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


def quarterly_to_hold(now_ms: int, roll_lead_ms: int) -> int:
    """The expiry of the quarterly future a rolling leg holds at `now_ms`: the first one that
    settles more than `roll_lead_ms` from now."""
    if roll_lead_ms < 0:
        raise ValueError("the roll lead time must be >= 0")
    for expiry_ms in quarterly_expiries_ms(now_ms, 3):
        if expiry_ms - roll_lead_ms > now_ms:
            return expiry_ms
    raise ValueError(f"a roll lead of {roll_lead_ms} ms is longer than two quarters")


def quarterlies_to_roll_from(now_ms: int, roll_lead_ms: int) -> list[str]:
    """Dated futures still live at `now_ms` that expire before the one to hold: a rolling leg
    moves any position on them to the one it holds."""
    held = quarterly_to_hold(now_ms, roll_lead_ms)
    return [btc_usd_future(e).instrument_id for e in quarterly_expiries_ms(now_ms, 3) if e < held]


def quarterly_instrument_id(now_ms: int, roll_lead_ms: int) -> str:
    return btc_usd_future(quarterly_to_hold(now_ms, roll_lead_ms)).instrument_id

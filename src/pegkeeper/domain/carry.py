"""The carry-aware allocation: which legs carry the hedge, chosen by what a short earns on each
and what it costs to move, without churning.

The rule, as the backtest report quotes it:

1. Candidates. Every perpetual is a candidate. A dated future is one while more than the roll
   lead is left before its expiry; inside the roll lead it is about to be rolled or settled,
   so no weight moves to it and whatever weight it holds leaves it.
2. Net carry of each candidate, per year, as a fraction of the notional a short earns:
   - perpetual: a blend of the rate the next settlement pays (the venues' "predicted" rate)
     and the mean of the last settlements, `funding_blend * next + (1 - funding_blend) *
     mean`, annualised (x 3 x 365 for 8-hour rates). Positive funding: longs pay shorts.
   - dated future: the basis a short locks in and earns as the future converges to spot,
     (F / S - 1) * year / time to expiry, minus the cost of its roll spread over the same time.
   The best candidate has the highest net carry (on a tie, the one holding more weight, then
   the first listed).
3. The first of these that applies decides:
   a. nothing is held yet: the whole liability goes to the best candidate (an opening);
   b. a leg that is no longer a candidate holds weight: a step of it moves to the best
      candidate, whatever the carry and however recent the last move;
   c. the best candidate holds everything: nothing moves;
   d. the held leg with the lowest net carry is the source. Moving a share of the liability
      from it to the best candidate earns the carry difference over the horizon,
      gain = (net best - net source) * horizon / year, and costs the trades out of the source
      and into the best (fee + expected slippage, each way). Unless the gain exceeds that
      cost plus the margin, nothing moves;
   e. a move to a new destination waits `min_hold` after the last step; further steps
      toward the leg the last step moved to follow each other without waiting;
   f. otherwise one step moves: the source's weight, at most `max_step_share` of the
      liability.
   The margin and the minimum hold are the hysteresis: after a move from A to B, B has to
   fall behind A by more than the costs and the margin, and no sooner than `min_hold` after
   the last step, before anything moves back.
4. Steps are small because the caller opens the new leg before it closes the old one (as a
   roll does): the hedge is over-covered by one step for a moment, never under, and stays
   inside the hedge policy's brackets when the step is within their headroom (2 % of the
   liability under stablesats' 1.03 bracket). The caller asks again once a step has filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.instruments import InstrumentKind
from pegkeeper.domain.units import BPS_PER_ONE, HOUR_MS, YEAR_MS


@dataclass(frozen=True, slots=True)
class CarryParams:
    horizon_ms: int = 72 * HOUR_MS  # the gain of a move is counted over this time
    margin_bps: Decimal = Decimal(5)  # the gain must exceed the costs by this much
    min_hold_ms: int = 24 * HOUR_MS  # between the last step and a move to a new leg
    max_step_share: Decimal = Decimal("0.02")  # of the liability, per step
    funding_blend: Decimal = Decimal("0.3")  # weight of the next rate; the rest: the mean
    roll_lead_ms: int = 24 * HOUR_MS  # a future this close to expiry is no candidate

    def __post_init__(self) -> None:
        if self.horizon_ms <= 0:
            raise InvalidInput(f"the carry horizon must be > 0 ms, got {self.horizon_ms}")
        if self.min_hold_ms < 0 or self.roll_lead_ms < 0:
            raise InvalidInput(
                f"min_hold_ms and roll_lead_ms must be >= 0, got {self.min_hold_ms} and "
                f"{self.roll_lead_ms}"
            )
        if not self.margin_bps.is_finite() or self.margin_bps < 0:
            raise InvalidInput(f"margin_bps must be >= 0, got {self.margin_bps}")
        if not 0 < self.max_step_share <= 1:
            raise InvalidInput(f"max_step_share must be in (0, 1], got {self.max_step_share}")
        if not 0 <= self.funding_blend <= 1:
            raise InvalidInput(f"funding_blend must be in [0, 1], got {self.funding_blend}")


def perpetual_carry_per_year(
    next_rate: Decimal, mean_rate: Decimal, interval_hours: int, funding_blend: Decimal
) -> Decimal:
    """What a short earns per year from funding: the blend of the next and the mean rate (each
    a fraction per `interval_hours`), annualised on 365 days."""
    if interval_hours <= 0:
        raise InvalidInput(f"a funding interval must be > 0 hours, got {interval_hours}")
    if not 0 <= funding_blend <= 1:
        raise InvalidInput(f"funding_blend must be in [0, 1], got {funding_blend}")
    blended = funding_blend * next_rate + (1 - funding_blend) * mean_rate
    return blended * YEAR_MS / (interval_hours * HOUR_MS)


def future_carry_per_year(
    future_usd: Decimal, spot_usd: Decimal, now_ms: int, expiry_ms: int
) -> Decimal:
    """The basis a short locks in, annualised: (F / S - 1) * year / time to expiry."""
    if spot_usd <= 0 or future_usd <= 0:
        raise InvalidInput(f"prices must be > 0, got future {future_usd} and spot {spot_usd}")
    if expiry_ms <= now_ms:
        raise InvalidInput(f"the future expires at {expiry_ms} ms, not after now ({now_ms} ms)")
    return (future_usd / spot_usd - 1) * YEAR_MS / (expiry_ms - now_ms)


@dataclass(frozen=True, slots=True)
class CarryLeg:
    instrument_id: str
    venue: str
    kind: InstrumentKind  # SWAP: a perpetual
    carry_per_year: Decimal  # what a short earns, before costs (the functions above)
    trade_cost_bps: Decimal  # one way into or out of it: fee + expected slippage
    weight: Decimal  # its share of the liability now
    expiry_ms: int | None = None  # a future's
    roll_cost_bps: Decimal | None = None  # a future's roll; None: two trades, 2 x trade_cost

    def __post_init__(self) -> None:
        if not self.instrument_id or not self.venue:
            raise InvalidInput("a carry leg needs an instrument_id and a venue")
        if (self.kind is InstrumentKind.FUTURE) != (self.expiry_ms is not None):
            raise InvalidInput(f"{self.key}: a future needs an expiry_ms, a perpetual has none")
        if not self.carry_per_year.is_finite():
            raise InvalidInput(f"{self.key}: carry_per_year must be a number")
        costs = [self.trade_cost_bps, self.roll_cost_bps or Decimal(0)]
        if any(not c.is_finite() or c < 0 for c in costs):
            raise InvalidInput(f"{self.key}: costs must be >= 0 bps, got {costs}")
        if not self.weight.is_finite() or not 0 <= self.weight <= 1:
            raise InvalidInput(f"{self.key}: the weight must be in [0, 1], got {self.weight}")

    @property
    def key(self) -> str:
        return f"{self.venue}:{self.instrument_id}"

    def is_candidate(self, now_ms: int, roll_lead_ms: int) -> bool:
        return self.expiry_ms is None or self.expiry_ms - now_ms > roll_lead_ms

    def net_carry_per_year(self, now_ms: int) -> Decimal:
        """The carry less a future's roll cost spread over the time left to its expiry."""
        if self.expiry_ms is None:
            return self.carry_per_year
        roll_bps = self.roll_cost_bps if self.roll_cost_bps is not None else 2 * self.trade_cost_bps
        return self.carry_per_year - roll_bps / BPS_PER_ONE * YEAR_MS / (self.expiry_ms - now_ms)


@dataclass(frozen=True, slots=True)
class CarryState:
    """What the caller keeps between decisions."""

    last_step_ms: int | None = None
    moving_to: str | None = None  # the key of the leg the last step moved weight to


@dataclass(frozen=True, slots=True)
class CarryMove:
    from_key: str
    to_key: str
    share: Decimal  # of the liability


@dataclass(frozen=True, slots=True)
class CarryDecision:
    weights: tuple[Decimal, ...]  # the target, per leg in the order given; they add up to 1
    rule: str  # which part of the rule decided, for the audit trail and the report
    move: CarryMove | None = None
    gain_bps: Decimal | None = None  # of a move considered, over the horizon
    cost_bps: Decimal | None = None  # its trades and the margin

    def next_state(self, now_ms: int, previous: CarryState) -> CarryState:
        if self.move is None:
            return previous
        return CarryState(last_step_ms=now_ms, moving_to=self.move.to_key)


def decide_carry(
    legs: Sequence[CarryLeg], now_ms: int, state: CarryState, params: CarryParams
) -> CarryDecision:
    """The target weights of `legs` at `now_ms` (the module doc's rule)."""
    weights = _checked_weights(legs)
    candidates = [i for i, leg in enumerate(legs) if leg.is_candidate(now_ms, params.roll_lead_ms)]
    if not candidates:
        raise InvalidInput(
            "no candidate leg: every future is within the roll lead of its expiry and there is "
            "no perpetual"
        )
    net = {i: legs[i].net_carry_per_year(now_ms) for i in candidates}
    best = max(candidates, key=lambda i: (net[i], weights[i], -i))
    if sum(weights) == 0:
        return CarryDecision(_all_on(best, len(legs)), "opening: all on the best net carry")
    leaving = next((i for i, w in enumerate(weights) if w > 0 and i not in net), None)
    if leaving is not None:
        return _step(legs, weights, leaving, best, params, "leaving a future within its roll lead")
    if weights[best] == 1:
        return CarryDecision(tuple(weights), "holding: the best net carry holds everything")
    source = min((i for i in candidates if weights[i] > 0), key=lambda i: (net[i], i))
    gain_bps = (net[best] - net[source]) * params.horizon_ms / YEAR_MS * BPS_PER_ONE
    cost_bps = legs[source].trade_cost_bps + legs[best].trade_cost_bps + params.margin_bps
    if gain_bps <= cost_bps:
        rule = "holding: the gain over the horizon does not cover the costs and the margin"
        return CarryDecision(tuple(weights), rule, None, gain_bps, cost_bps)
    waited = state.last_step_ms is None or now_ms - state.last_step_ms >= params.min_hold_ms
    if not waited and state.moving_to != legs[best].key:
        rule = "holding: a move to a new leg waits the minimum hold after the last step"
        return CarryDecision(tuple(weights), rule, None, gain_bps, cost_bps)
    decision = _step(legs, weights, source, best, params, "moving to a better net carry")
    return CarryDecision(decision.weights, decision.rule, decision.move, gain_bps, cost_bps)


def _step(
    legs: Sequence[CarryLeg],
    weights: list[Decimal],
    source: int,
    destination: int,
    params: CarryParams,
    rule: str,
) -> CarryDecision:
    share = min(weights[source], params.max_step_share)
    moved = list(weights)
    moved[source] -= share
    moved[destination] += share
    move = CarryMove(legs[source].key, legs[destination].key, share)
    return CarryDecision(tuple(moved), rule, move)


def _all_on(index: int, count: int) -> tuple[Decimal, ...]:
    return tuple(Decimal(1 if i == index else 0) for i in range(count))


def _checked_weights(legs: Sequence[CarryLeg]) -> list[Decimal]:
    if not legs:
        raise InvalidInput("the carry allocation needs at least one leg")
    keys = [leg.key for leg in legs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise InvalidInput(f"each leg once, got {', '.join(repeated)} more than once")
    weights = [leg.weight for leg in legs]
    total = sum(weights, Decimal(0))
    if total not in (0, 1):
        raise InvalidInput(
            f"the weights of the legs must add up to 1 (or all be 0 before the hedge opens), "
            f"got {total}"
        )
    return weights

"""What the carry allocator reads before it decides: each leg's market at the venue (the
instrument it trades now, its position and mark), whether the hedge already is where the
weights put it, and what a short earns on each leg.

- A perpetual earns its funding: the rate of the next settlement as the venue publishes it
  (OKX's `fundingRate`) blended with the mean of the settlements of the last
  `funding_window_ms`, read from the venue's own funding-rate history (the rates it charged,
  whether or not pegkeeper held the perpetual then, and the same for every process). With no
  settlement in the window the mean is the next rate.
- A dated future (the rolling quarterly: the one it holds now) earns its basis against the
  perpetual's mark as spot, annualised to its expiry.
- The hedge is in place when the hedge policy, given each leg's share of the liability and
  its position, would not trade on any leg and no leg is still rolling an older expiry: the
  hedgers followed the last change (they may be paused, waiting for collateral, or down).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.allocation import (
    HedgeLeg,
    quarterlies_to_roll_from,
    quarterly_instrument_id,
)
from pegkeeper.domain.carry import (
    CarryLeg,
    future_carry_per_year,
    perpetual_carry_per_year,
)
from pegkeeper.domain.carry_records import CarryLegInputs
from pegkeeper.domain.hedge_policy import HedgeInputs, HedgePolicy
from pegkeeper.domain.instruments import Instrument, InstrumentKind
from pegkeeper.domain.venue import VenuePosition
from pegkeeper.ports import FundingRates, Venue

FUNDING_INTERVAL_HOURS = 8  # when the venue does not say (OKX: 00:00, 08:00, 16:00 UTC)


@dataclass(frozen=True, slots=True)
class LegMarket:
    leg: HedgeLeg
    instrument: Instrument  # traded now (a rolling leg: the quarterly it holds)
    position: VenuePosition
    older: tuple[tuple[Instrument, VenuePosition], ...] = ()  # expiries not rolled yet

    @property
    def mark_usd(self) -> Decimal:
        return self.position.mark_price_usd

    def exposure_cents(self) -> int:
        held = [(self.instrument, self.position), *self.older]
        return sum(i.exposure_cents(p.size_contracts, self.mark_usd) for i, p in held)


@dataclass(frozen=True, slots=True)
class Seen:
    """A leg's carry and what it was computed from, for the audit trail."""

    carry_per_year: Decimal
    next_rate: Decimal | None = None
    mean_rate: Decimal | None = None
    settlements: int = 0
    future_usd: Decimal | None = None
    spot_usd: Decimal | None = None
    expiry_ms: int | None = None


class CarryReader:
    def __init__(
        self,
        venue: Venue,
        rates: FundingRates,
        spot_instrument_id: str,
        roll_lead_ms: int,
        funding_window_ms: int,
        funding_blend: Decimal,
    ) -> None:
        self._venue = venue
        self._rates = rates
        self._spot_id = spot_instrument_id
        self._lead_ms = roll_lead_ms
        self._window_ms = funding_window_ms
        self._blend = funding_blend
        self._instruments: dict[str, Instrument] = {}

    async def markets(self, legs: Sequence[HedgeLeg], now_ms: int) -> list[LegMarket]:
        return [await self._market(leg, now_ms) for leg in legs]

    async def seen(self, markets: Sequence[LegMarket], now_ms: int) -> list[Seen]:
        spot: Decimal | None = None
        found = []
        for market in markets:
            if market.instrument.kind is InstrumentKind.SWAP:
                found.append(await self._funding(market.instrument.instrument_id, now_ms))
                continue
            if spot is None:
                spot = await self._spot_usd(markets)
            expiry_ms = market.instrument.expiry_ms
            assert expiry_ms is not None
            carry = future_carry_per_year(market.mark_usd, spot, now_ms, expiry_ms)
            found.append(
                Seen(carry, future_usd=market.mark_usd, spot_usd=spot, expiry_ms=expiry_ms)
            )
        return found

    async def _market(self, leg: HedgeLeg, now_ms: int) -> LegMarket:
        if not leg.rolls:
            instrument = await self._instrument(leg.instrument_id)
            return LegMarket(leg, instrument, await self._venue.position(instrument.instrument_id))
        held = await self._instrument(quarterly_instrument_id(now_ms, self._lead_ms))
        older = []
        for instrument_id in quarterlies_to_roll_from(now_ms, self._lead_ms):
            position = await self._venue.position(instrument_id)
            if position.size_contracts != 0:
                older.append((await self._instrument(instrument_id), position))
        position = await self._venue.position(held.instrument_id)
        return LegMarket(leg, held, position, tuple(older))

    async def _funding(self, instrument_id: str, now_ms: int) -> Seen:
        published = await self._rates.funding_rate(instrument_id)
        history = await self._rates.funding_rate_history(instrument_id, now_ms - self._window_ms)
        settled = [s.rate for s in history if s.funding_time_ms <= now_ms]
        next_rate = published.rate
        mean = sum(settled, Decimal(0)) / len(settled) if settled else next_rate
        hours = published.interval_hours or FUNDING_INTERVAL_HOURS
        carry = perpetual_carry_per_year(next_rate, mean, hours, self._blend)
        return Seen(carry, next_rate=next_rate, mean_rate=mean, settlements=len(settled))

    async def _spot_usd(self, markets: Sequence[LegMarket]) -> Decimal:
        for market in markets:
            if market.instrument.instrument_id == self._spot_id:
                return market.mark_usd
        return (await self._venue.position(self._spot_id)).mark_price_usd

    async def _instrument(self, instrument_id: str) -> Instrument:
        found = self._instruments.get(instrument_id)
        if found is None:
            found = await self._venue.instrument(instrument_id)
            self._instruments[instrument_id] = found
        return found


def not_in_place(
    markets: Sequence[LegMarket], shares_cents: Sequence[int], policy: HedgePolicy
) -> str:
    """Why the hedge is not yet where the weights put it ("" when it is)."""
    for market, share in zip(markets, shares_cents, strict=True):
        name = market.leg.instrument_id
        if market.older:
            return f"{name} is still rolling from {market.older[0][0].instrument_id}"
        mark = market.mark_usd
        inputs = HedgeInputs(
            share, market.exposure_cents(), market.instrument.contract_value_cents(mark)
        )
        decision = policy.decide(inputs)
        if not decision.action.is_hold:
            return f"{name} is not at its share of the liability yet ({decision.rule})"
    return ""


def carry_legs(
    markets: Sequence[LegMarket],
    seen: Sequence[Seen],
    weights: Sequence[Decimal],
    trade_cost_bps: Decimal,
) -> list[CarryLeg]:
    return [
        CarryLeg(
            market.leg.instrument_id,
            market.leg.venue,
            market.instrument.kind,
            carry.carry_per_year,
            trade_cost_bps,
            weight,
            carry.expiry_ms,
        )
        for market, carry, weight in zip(markets, seen, weights, strict=True)
    ]


def leg_inputs(
    markets: Sequence[LegMarket],
    seen: Sequence[Seen],
    legs: Sequence[CarryLeg],
    after: Sequence[Decimal],
    now_ms: int,
) -> tuple[CarryLegInputs, ...]:
    return tuple(
        CarryLegInputs(
            leg=leg.instrument_id,
            instrument_id=market.instrument.instrument_id,
            weight_before=leg.weight,
            weight_after=weight,
            carry_per_year=carry.carry_per_year,
            net_carry_per_year=leg.net_carry_per_year(now_ms),
            trade_cost_bps=leg.trade_cost_bps,
            next_rate=carry.next_rate,
            mean_rate=carry.mean_rate,
            settlements=carry.settlements,
            future_usd=carry.future_usd,
            spot_usd=carry.spot_usd,
            expiry_ms=carry.expiry_ms,
        )
        for market, carry, leg, weight in zip(markets, seen, legs, after, strict=True)
    )

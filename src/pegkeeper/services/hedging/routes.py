"""The venues of an allocation as one Venue, for what acts on every leg at once (an operator's
close): each call goes to the venue of the leg that owns the instrument."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.orders import OrderIntent, OrderReport
from pegkeeper.domain.venue import PRIMARY_VENUE, VenueBalances, VenuePosition, VenueResync
from pegkeeper.ports import Venue


class VenueRoutes:
    def __init__(self, allocation: Allocation, venues: Mapping[str, Venue]) -> None:
        missing = sorted({leg.venue for leg in allocation.legs} - set(venues))
        if missing:
            raise ValueError(f"no venue named {', '.join(missing)} to route legs to")
        self._allocation = allocation
        self._venues = venues
        self.name = "+".join(venue.name for venue in venues.values())

    def venue_of(self, instrument_id: str) -> Venue:
        """The venue of the leg that owns `instrument_id` (the primary for any other)."""
        for leg in self._allocation.legs:
            if leg.owns(instrument_id):
                return self._venues[leg.venue]
        return self._venues[PRIMARY_VENUE]

    async def instrument(self, instrument_id: str) -> Instrument:
        return await self.venue_of(instrument_id).instrument(instrument_id)

    async def position(self, instrument_id: str) -> VenuePosition:
        return await self.venue_of(instrument_id).position(instrument_id)

    async def balances(self, currency: str) -> VenueBalances:
        """The first leg's venue's: the account whose position a close snapshots."""
        return await self._venues[self._allocation.legs[0].venue].balances(currency)

    def position_changes(self, instrument_id: str) -> AsyncIterator[VenuePosition | VenueResync]:
        return self.venue_of(instrument_id).position_changes(instrument_id)

    async def place_market_order(self, intent: OrderIntent) -> OrderReport:
        return await self.venue_of(intent.instrument_id).place_market_order(intent)

    async def place_limit_order(self, intent: OrderIntent) -> OrderReport:
        return await self.venue_of(intent.instrument_id).place_limit_order(intent)

    async def close_position(self, intent: OrderIntent) -> OrderReport:
        return await self.venue_of(intent.instrument_id).close_position(intent)

    async def order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        return await self.venue_of(instrument_id).order(instrument_id, client_order_id)

    async def open_orders(self, instrument_id: str) -> list[OrderReport]:
        return await self.venue_of(instrument_id).open_orders(instrument_id)

    async def cancel_order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        return await self.venue_of(instrument_id).cancel_order(instrument_id, client_order_id)

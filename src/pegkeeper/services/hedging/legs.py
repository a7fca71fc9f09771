"""What one hedger covers (its leg of the allocation), and the roll of a leg held in dated
futures: before the quarterly future it holds settles, the position moves to the next expiry.

A roll step is one decision with both legs recorded before either is sent: first the next
expiry is opened (the hedge is over-covered for a moment, never under), then the old expiry is
closed by the same size, only once the opening leg filled. A step is as large as the margin
available allows the opening leg to be (at `venue_leverage`, with a 5 % cushion); what does
not fit is rolled by the next steps, as the closed leg frees its margin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from pegkeeper.domain.allocation import (
    Allocation,
    quarterlies_to_roll_from,
    quarterly_instrument_id,
    split_cents,
)
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.leverage import initial_margin
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide
from pegkeeper.domain.records import DecisionRecord
from pegkeeper.domain.roll import RollRecord
from pegkeeper.domain.venue import VenuePosition
from pegkeeper.ports import Clock, Venue
from pegkeeper.services.ids import new_client_order_id, new_correlation_id

MARGIN_CUSHION = Decimal("0.95")

# The allocation's weights now, leg by leg, when something moves them (the carry allocation).
WeightSource = Callable[[], Sequence[Decimal]]


@dataclass(frozen=True, slots=True)
class OlderPosition:
    instrument: Instrument
    position: VenuePosition


@dataclass(frozen=True, slots=True)
class RollPlan:
    roll: RollRecord
    open_leg: OrderIntent
    close_leg: OrderIntent


class FutureRoller:
    def __init__(
        self, venue: Venue, clock: Clock, roll_lead_ms: int, venue_leverage: Decimal
    ) -> None:
        self._venue = venue
        self._clock = clock
        self._lead_ms = roll_lead_ms
        self._leverage = venue_leverage
        self._instruments: dict[str, Instrument] = {}

    async def held(self) -> Instrument:
        """The quarterly future the leg holds now."""
        return await self._instrument(quarterly_instrument_id(self._clock.now_ms(), self._lead_ms))

    async def older_positions(self) -> list[OlderPosition]:
        """Open positions on live expiries before the one held: what is left to roll."""
        found = []
        for instrument_id in quarterlies_to_roll_from(self._clock.now_ms(), self._lead_ms):
            instrument = await self._instrument(instrument_id)
            position = await self._venue.position(instrument_id)
            if position.size_contracts != 0:
                found.append(OlderPosition(instrument, position))
        return found

    async def plan(
        self, target: Instrument, older: OlderPosition, record: DecisionRecord
    ) -> RollPlan | None:
        """The next step, sized to the margin available; None when not one contract fits."""
        size = min(abs(older.position.size_contracts), await self._affordable(target))
        size = (size / target.lot_size_contracts).to_integral_value(ROUND_FLOOR)
        size *= target.lot_size_contracts
        if size < target.min_size_contracts:
            return None
        opening = OrderSide.SELL if older.position.size_contracts < 0 else OrderSide.BUY
        closing = OrderSide.BUY if opening is OrderSide.SELL else OrderSide.SELL
        open_leg = self._intent(target.instrument_id, opening, size, record)
        close_leg = self._intent(older.instrument.instrument_id, closing, size, record)
        roll = RollRecord(
            roll_id=new_correlation_id(),
            decision_id=record.decision_id,
            correlation_id=record.correlation_id,
            created_at_ms=record.created_at_ms,
            from_instrument_id=older.instrument.instrument_id,
            to_instrument_id=target.instrument_id,
            size_contracts=size,
            from_position_contracts=older.position.size_contracts,
            open_client_order_id=open_leg.client_order_id,
            close_client_order_id=close_leg.client_order_id,
        )
        return RollPlan(roll, open_leg, close_leg)

    async def _affordable(self, target: Instrument) -> Decimal:
        """Contracts of `target` the available margin can open."""
        balances = await self._venue.balances(target.settle_currency)
        mark = (await self._venue.position(target.instrument_id)).mark_price_usd
        margin_per_contract = initial_margin(target, Decimal(1), mark, self._leverage)
        available = max(Decimal(0), balances.trading_available) * MARGIN_CUSHION
        return (available / margin_per_contract).to_integral_value(ROUND_FLOOR)

    def _intent(
        self, instrument_id: str, side: OrderSide, size: Decimal, record: DecisionRecord
    ) -> OrderIntent:
        return OrderIntent(
            client_order_id=new_client_order_id(),
            instrument_id=instrument_id,
            kind=OrderKind.MARKET,
            side=side,
            size_contracts=size,
            decision_id=record.decision_id,
            correlation_id=record.correlation_id,
            created_at_ms=record.created_at_ms,
        )

    async def _instrument(self, instrument_id: str) -> Instrument:
        found = self._instruments.get(instrument_id)
        if found is None:
            found = await self._venue.instrument(instrument_id)
            self._instruments[instrument_id] = found
        return found


class LegScope:
    """One hedger's part: its share of the liability, the instrument it trades now (for a
    rolling leg, the quarterly it holds), the orders that are its own. Without an allocation
    the one instrument carries the whole liability and every order is the hedger's."""

    def __init__(
        self,
        venue: Venue,
        clock: Clock,
        instrument_id: str,
        allocation: Allocation | None,
        leg_index: int,
        roll_lead_ms: int,
        venue_leverage: Decimal,
        weights: WeightSource | None = None,
    ) -> None:
        self._venue = venue
        self._leverage = venue_leverage
        self._instrument_id = instrument_id
        self._allocation = allocation
        self._weights = weights
        self._split_key: tuple[int, tuple[Decimal, ...]] | None = None
        self._split = 0
        self._leg_index = leg_index
        self._leg = allocation.legs[leg_index] if allocation is not None else None
        self._instrument: Instrument | None = None
        self.roller: FutureRoller | None = None
        if self._leg is not None and self._leg.rolls:
            self.roller = FutureRoller(venue, clock, roll_lead_ms, venue_leverage)

    @property
    def name(self) -> str:
        """The leg as the audit trail names it: its configured instrument."""
        return self._leg.instrument_id if self._leg is not None else self._instrument_id

    def share_cents(self, liability_cents: int) -> int:
        if self._allocation is None:
            return liability_cents
        if self._weights is not None:  # weights that move (the carry allocation)
            key = (liability_cents, tuple(self._weights()))
            if key != self._split_key:  # asked on every wake-up, changed far more rarely
                self._split_key = key
                self._split = split_cents(liability_cents, key[1])[self._leg_index]
            return self._split
        return self._allocation.split_cents(liability_cents)[self._leg_index]

    def owns(self, instrument_id: str) -> bool:
        return self._leg is None or self._leg.owns(instrument_id)

    async def instrument(self) -> Instrument:
        if self.roller is not None:
            return await self.roller.held()
        if self._instrument is None:
            self._instrument = await self._venue.instrument(self._instrument_id)
        return self._instrument

    async def older_positions(self) -> list[OlderPosition]:
        return await self.roller.older_positions() if self.roller is not None else []

    async def lacks_margin(
        self, instrument: Instrument, position: VenuePosition, signed_contracts: Decimal
    ) -> bool:
        """Whether an order growing the position needs more initial margin than is available."""
        size = position.size_contracts
        growth = abs(size + signed_contracts) - abs(size)
        if growth <= 0:
            return False
        margin = initial_margin(instrument, growth, position.mark_price_usd, self._leverage)
        balances = await self._venue.balances(instrument.settle_currency)
        return margin > balances.trading_available

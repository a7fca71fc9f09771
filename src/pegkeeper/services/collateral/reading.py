"""What the funding manager reads before it decides: the liability its collateral backs, the
positions margined in that collateral, the balances, and the leverage they make at the mark."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from pegkeeper.domain.allocation import (
    Allocation,
    HedgeLeg,
    quarterlies_to_roll_from,
    quarterly_instrument_id,
)
from pegkeeper.domain.collateral_policy import (
    CollateralActionKind,
    CollateralInputs,
    CollateralPolicy,
)
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.leverage import HeldPosition, LeverageReading, equity_at, read_leverage
from pegkeeper.domain.venue import VenueBalances
from pegkeeper.ports import Clock, Store, Venue

CENTS_PER_USDT = Decimal(100)  # the stablecoin is counted at 1 USD


@dataclass(frozen=True, slots=True)
class AccountState:
    read_at_ms: int
    total_liability_cents: int  # what the dealer owes in all
    liability_cents: int  # the part of the liability hedged with this collateral
    held: tuple[HeldPosition, ...]
    balances: VenueBalances
    reading: LeverageReading
    inputs: CollateralInputs

    @property
    def hedge_ratio(self) -> Decimal | None:
        if self.liability_cents == 0:
            return None
        return Decimal(-self.inputs.exposure_cents) / Decimal(self.liability_cents)


def price_cents(currency: str, mark_price_usd: Decimal) -> Decimal:
    """What one unit of collateral is worth in cents: the BTC price, or 1 USD for USDT."""
    return mark_price_usd * 100 if currency == "BTC" else CENTS_PER_USDT


def estimate_at(
    state: AccountState, mark_price_usd: Decimal, liability_cents: int | None = None
) -> CollateralInputs:
    """The policy's inputs at a new mark price (and, given, a new liability share), computed
    from the last reading (no request)."""
    reading = state.reading
    equity, notional = equity_at(reading, mark_price_usd)
    price = price_cents(reading.currency, mark_price_usd)
    cents = int((notional * price).to_integral_value())
    inputs = state.inputs
    return CollateralInputs(
        liability_cents=inputs.liability_cents if liability_cents is None else liability_cents,
        exposure_cents=-cents if reading.signed_face < 0 else cents,
        price_cents=price,
        collateral=equity,
        funding_balance=inputs.funding_balance,
        contract_value_cents=inputs.contract_value_cents,
        mark_price_usd=mark_price_usd,
        outlook=inputs.outlook,
    )


class AccountReader:
    def __init__(
        self,
        store: Store,
        venue: Venue,
        clock: Clock,
        allocation: Allocation,
        currency: str,
        maintenance_margin_rate: Decimal,
        roll_lead_ms: int,
        venue_name: str = "primary",
    ) -> None:
        self._store = store
        self._venue_name = venue_name
        self._venue = venue
        self._clock = clock
        self._allocation = allocation
        self.currency = currency
        self._mmr = maintenance_margin_rate
        self._roll_lead_ms = roll_lead_ms
        self._instruments: dict[str, Instrument] = {}
        self._counted_legs: tuple[int, ...] = ()  # the legs margined here, as last read

    def share_cents(self, total_cents: int) -> int:
        """This collateral's share of a total liability, by the legs the last read found."""
        if len(self._allocation.legs) == 1:  # the common case, without the split's arithmetic
            return total_cents if self._counted_legs else 0
        shares = self._allocation.split_cents(total_cents)
        return sum(shares[i] for i in self._counted_legs)

    async def read(
        self, total_cents: int | None = None, same_positions: AccountState | None = None
    ) -> AccountState:
        """With the total liability when the caller knows it, from the store otherwise; with
        `same_positions`, only the balances are read again (money moved, positions did not).
        Raises the venue's errors (VenueUnavailable: a stale price, an unreachable venue)."""
        now_ms = self._clock.now_ms()
        if total_cents is None:
            total_cents = await self._store.liability.balance_cents()
        if same_positions is not None:
            liability, held = same_positions.liability_cents, list(same_positions.held)
        else:
            liability, held = await self._positions(total_cents, now_ms)
        balances = await self._venue.balances(self.currency)
        if not held:
            raise ValueError(f"no hedge leg is margined in {self.currency}")
        mark = held[-1].position.mark_price_usd  # the leg's current instrument
        exposure = sum(
            (h.instrument.exposure_cents(h.position.size_contracts, mark) for h in held), 0
        )
        reading = read_leverage(held, balances, mark, self._mmr)
        inputs = CollateralInputs(
            liability_cents=liability,
            exposure_cents=exposure,
            price_cents=price_cents(self.currency, mark),
            collateral=balances.trading_equity,
            funding_balance=balances.funding_balance,
            contract_value_cents=held[-1].instrument.contract_value_cents(mark),
            mark_price_usd=mark,
        )
        return AccountState(now_ms, total_cents, liability, tuple(held), balances, reading, inputs)

    async def _positions(self, total_cents: int, now_ms: int) -> tuple[int, list[HeldPosition]]:
        """This collateral's share of the liability, and the positions it margins."""
        liability = 0
        held: list[HeldPosition] = []
        counted: list[int] = []
        shares = self._allocation.split_cents(total_cents)
        for index, (leg, share) in enumerate(zip(self._allocation.legs, shares, strict=True)):
            instruments = await self._instruments_of(leg, now_ms)
            if not instruments or instruments[0].settle_currency != self.currency:
                continue
            counted.append(index)
            liability += share
            for instrument in instruments:
                position = await self._venue.position(instrument.instrument_id)
                held.append(HeldPosition(instrument, position))
        self._counted_legs = tuple(counted)
        return liability, held

    async def _instruments_of(self, leg: HedgeLeg, now_ms: int) -> Sequence[Instrument]:
        if leg.venue != self._venue_name:
            return []
        if not leg.rolls:
            return [await self._instrument(leg.instrument_id)]
        lead = self._roll_lead_ms
        ids = [*quarterlies_to_roll_from(now_ms, lead), quarterly_instrument_id(now_ms, lead)]
        return [await self._instrument(i) for i in ids]

    async def _instrument(self, instrument_id: str) -> Instrument:
        found = self._instruments.get(instrument_id)
        if found is None:
            found = await self._venue.instrument(instrument_id)
            self._instruments[instrument_id] = found
        return found


BAND_REFERENCE_PRICE_USD = Decimal(100_000)
EDGE_TOLERANCE = Decimal("0.0005")  # an edge is found to within 5 bp of its price
EDGE_STEP = Decimal("0.002")  # around the last edge, where a new one is looked for first
EDGE_NEAR = EDGE_TOLERANCE / 2  # just inside the last edge: where one that moved in is looked for


Edge = tuple[Decimal, Decimal | None]  # the quiet price at an edge, and the one found not
# quiet just beyond it (None: the price looked at farthest was still quiet)


class QuietBand:
    """The prices around a reading at which there is nothing new to do: the policy holds, or
    asks for what is already decided and waiting (a deposit on its way, a refused action),
    and the hedge stays above the liquidation floor.

    For a position of one direction, leverage and liability over collateral are monotone in
    the price, so the band is an interval, found by bisection (and a price between two quiet
    ones is quiet). It is kept until the position, the cash, the liability, the funding
    balance or what waits change: a price inside it costs two comparisons. Each edge is the
    last price found quiet (the band never holds a price that is not), and the price found
    not quiet beyond it is kept too. As the inputs mostly change a little between readings,
    a new reading first looks at the last band's edges: when both are still quiet, they are
    the new band as they are, and an edge is looked for again only when a price goes beyond
    it (the band may have grown there)."""

    def __init__(self, policy: CollateralPolicy, floor_pct: Decimal) -> None:
        self._policy = policy
        self._floor_pct = floor_pct
        self._key: tuple[object, ...] | None = None  # what the band was found for
        self._low = self._high = Decimal(0)
        self._edges: tuple[Edge, Edge] | None = None
        self._exact = (True, True)  # each edge found for this reading (else kept from before)
        self._state: AccountState | None = None  # the reading the band was last asked of
        self._waiting: CollateralActionKind | None = None

    def contains(
        self, state: AccountState, price: Decimal, waiting: CollateralActionKind | None
    ) -> bool:
        if state is not self._state or waiting is not self._waiting:
            self._update(state, waiting)
        if self._low < price < self._high:
            return True
        return self._widened_to(state, price, waiting)

    def below_floor_at(self, state: AccountState, price: Decimal) -> bool:
        liquidation = state.reading.liquidation_price_usd
        if liquidation is None:
            return False
        return abs(liquidation - price) / price * 100 < self._floor_pct

    def _update(self, state: AccountState, waiting: CollateralActionKind | None) -> None:
        self._state, self._waiting = state, waiting
        key = (*_band_key(state), waiting)
        if key == self._key:
            return
        self._key = key
        last, self._edges, self._exact = self._edges, None, (True, True)
        mark = state.reading.mark_price_usd
        self._low = self._high = mark  # empty: every price is looked at
        if (
            last is not None
            and last[0][0] < mark < last[1][0]
            and self._quiet_at(state, last[0][0], waiting)
            and self._quiet_at(state, last[1][0], waiting)
        ):  # the last edges are still quiet, and so is every price between them
            self._edges, self._exact = last, (False, False)
            self._low, self._high = last[0][0], last[1][0]
            return
        if not self._quiet_at(state, mark, waiting):
            return
        self._edges = (
            self._edge(state, mark, mark / 2, waiting, None if last is None else last[0]),
            self._edge(state, mark, mark * 2, waiting, None if last is None else last[1]),
        )
        self._low, self._high = self._edges[0][0], self._edges[1][0]

    def _widened_to(
        self, state: AccountState, price: Decimal, waiting: CollateralActionKind | None
    ) -> bool:
        """Whether `price`, beyond an edge kept from an older reading, is inside the band once
        that edge is looked for again."""
        low_exact, high_exact = self._exact
        if self._edges is None or (low_exact if price <= self._low else high_exact):
            return False
        mark = state.reading.mark_price_usd
        low, high = self._edges
        if price <= self._low:
            low = self._edge(state, low[0], mark / 2, waiting, low)
            self._low, self._exact = low[0], (True, high_exact)
        else:
            high = self._edge(state, high[0], mark * 2, waiting, high)
            self._high, self._exact = high[0], (low_exact, True)
        self._edges = (low, high)
        return self._low < price < self._high

    def _quiet_at(
        self, state: AccountState, price: Decimal, waiting: CollateralActionKind | None
    ) -> bool:
        kind = self._policy.decide(estimate_at(state, price)).action.kind
        quiet = kind is CollateralActionKind.HOLD or kind is waiting
        return quiet and not self.below_floor_at(state, price)

    def _edge(
        self,
        state: AccountState,
        inside: Decimal,
        far: Decimal,
        waiting: CollateralActionKind | None,
        last: Edge | None,
    ) -> Edge:
        """The edge between `inside` (quiet) and `far`, to within the tolerance."""
        far_checked = False
        for guess in _guesses(inside, far, last):
            if not _between(inside, guess, far):
                continue
            if self._quiet_at(state, guess, waiting):
                inside = guess
            else:
                far, far_checked = guess, True
        if not far_checked and self._quiet_at(state, far, waiting):
            return far, None
        while abs(far - inside) > inside * EDGE_TOLERANCE:
            middle = (inside + far) / 2
            if self._quiet_at(state, middle, waiting):
                inside = middle
            else:
                far = middle
        return inside, far


def _guesses(mark: Decimal, far: Decimal, last: Edge | None) -> list[Decimal]:
    """Where the edge is looked for first: at the last one and the price beyond it (an edge
    that did not move is confirmed by these two), then just inside it, then a step either
    side of it."""
    if last is None:
        return []
    edge, beyond = last
    near, step = (EDGE_NEAR, EDGE_STEP) if far > mark else (-EDGE_NEAR, -EDGE_STEP)
    guesses = [edge] if beyond is None else [edge, beyond]
    return [*guesses, edge * (1 - near), edge * (1 + step), edge * (1 - step)]


def _between(inside: Decimal, price: Decimal, far: Decimal) -> bool:
    return inside < price < far or far < price < inside


def _band_key(state: AccountState) -> tuple[object, ...]:
    """What the band depends on besides the price: the equity re-priced to a fixed reference
    stands for the cash and the position; the outlook, for a policy that reads one."""
    equity, _ = equity_at(state.reading, BAND_REFERENCE_PRICE_USD)
    return (
        state.liability_cents,
        state.reading.position_contracts,
        state.inputs.funding_balance,
        equity.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_EVEN),
        state.reading.liquidation_price_usd,
        state.inputs.outlook,
    )

"""The backtest runner: one hedge policy over one price path, through the production hedger.

The same services as in production, wired to the simulated exchange in-process and a manual
clock: the liability service takes the users' flows, the hedge cycle (services/hedging/cycle.py,
with the policy under test) decides and sends its orders through the Venue port, and the
collateral manager (services/collateral/manager.py, see service_funding.py; any
funding_step.FundingStep may stand in) keeps the collateral. Nothing sleeps and nothing
touches the network.

The hedger is woken as production wakes it, without the cycles that could only hold: when
its inputs change (a flow, a fill, a liquidation; for a linear contract also the price) the
runner asks the hedger whether its policy would trade on them (`would_act`, the same policy
object and inputs as its cycle) and runs the cycle only then; a cycle that left the position
as it was (an order refused) is tried again at the periodic check, as production would; a
hedger waiting on an order in flight is woken when it asked to be (`recheck_in_seconds`).

Before the first tick the liability is in place and the policy opens its hedge on a book deep
enough for it; that opening trade's cost is reported apart, not in the policy's costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.backtest.basis_book import BasisBook
from pegkeeper.backtest.context import FundingFactory, RunContext
from pegkeeper.backtest.fill_book import FillBook
from pegkeeper.backtest.futures_market import FuturesMarket
from pegkeeper.backtest.legs import LegRun
from pegkeeper.backtest.metrics import Recorder
from pegkeeper.backtest.prices import BAR_MS
from pegkeeper.backtest.results import FinishedRun, PolicyResult, summarize
from pegkeeper.backtest.service_funding import service_funding
from pegkeeper.backtest.settings import INSTRUMENTS, BacktestInputs, BacktestSettings
from pegkeeper.backtest.store import MemoryStore
from pegkeeper.backtest.venue import LatentSimVenue
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.hedge_policy import HedgePolicy
from pegkeeper.domain.instruments import ContractType
from pegkeeper.domain.liability import LiabilityChange
from pegkeeper.domain.margin import inverse_liquidation_price_usd
from pegkeeper.services.hedging.cycle import HedgeCycle
from pegkeeper.services.ids import new_correlation_id
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.book import BookShape
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.events import ChangeReason, OrderChanged, PositionChanged

__all__ = [
    "BacktestInputs",
    "BacktestSettings",
    "FundingFactory",
    "PolicyResult",
    "PolicyRun",
    "RunContext",
]

DEEP_BOOK = BookShape(Decimal(0), Decimal("0.01"), 1, Decimal(10**12))  # the opening trade's
SAT = Decimal("0.00000001")
PROGRESS_EVERY_TICKS = 4096


Progress = Callable[[int], None]


class PolicyRun:
    def __init__(
        self,
        policy: HedgePolicy,
        inputs: BacktestInputs,
        settings: BacktestSettings,
        funding: FundingFactory | None = None,
    ) -> None:
        self._policy_name = policy.name
        self._inputs = self.inputs = inputs
        self._settings = self.settings = settings
        self._path = inputs.path
        self.instrument = INSTRUMENTS[settings.instrument_id]  # the perpetual
        self._inverse = self.instrument.contract_type is ContractType.INVERSE
        self.allocation = settings.allocation or Allocation.single(settings.instrument_id)
        self.futures = FuturesMarket.for_run(self.allocation, self._path, settings.basis)
        costs = settings.costs
        deposit_ms = int(costs.deposit_minutes * 60_000)
        self.engine = SimEngine(
            [self.instrument, *self.futures.instruments],
            taker_fee_rate=costs.taker_fee_rate,
            maker_fee_rate=costs.maker_fee_rate,
            maintenance_margin_rate=settings.maintenance_margin_rate,
            leverage=settings.exchange_leverage,
            deposit_confirmation_ms=2 * deposit_ms,  # credited at half of it, as OKX's state 1
            withdrawal_ms=deposit_ms,
        )
        self.clock = ManualClock(self._path.start_ms)
        self.venue = LatentSimVenue(self.engine, self.clock, self._move_to, costs.latency_ms)
        self.store = MemoryStore()
        bus = MemoryBus()
        self._liability = LiabilityService(
            self.store.liability, bus, self.clock, max_abs_delta_cents=settings.max_abs_delta_cents
        )
        self.carry = settings.carry_factory(self) if settings.carry_factory else None
        weights = self.carry.weights if self.carry is not None else None
        self.legs = [
            self._leg(policy, bus, index, weights) for index in range(len(self.allocation.legs))
        ]
        self.hedger = self.legs[0].hedger
        context = RunContext(
            self.engine, self.venue, self.clock, self.store, bus, self.instrument, settings,
            self._liability_now, self.allocation,
        )  # fmt: skip
        self.funding = (funding or service_funding())(context)
        self.recorder = Recorder(self._path, self._inverse, float(self.instrument.contract_value))
        self.basis = BasisBook(float(self.instrument.contract_value))
        self.fills = FillBook(self.engine, self.recorder, self.basis, self._inverse)
        self.engine.add_listener(self._on_position)
        self.engine.add_order_listener(self._on_order)
        self._mark = self._path.tick_prices[0]
        self._mark_usd = float(self._mark)
        self._liability_cents = 0
        self._next_tick = 0
        self._book_bar = -1
        self._next_boundary_ms: int | None = None
        self._futures_held = False  # any dated future's position open
        self._futures_due_ms = 0  # the next bar: futures nobody holds are priced then
        self._payments_seen = 0
        self._changed = False
        self._liquidations = 0
        self._orders_at_start = 0
        self._transfers_at_start = 0
        self._withdrawals_at_start = 0
        self._deposits_at_start = 0
        self.events = 0

    def _leg(self, policy: HedgePolicy, bus: MemoryBus, index: int, weights: object) -> LegRun:
        leg = self.allocation.legs[index]
        settings = self._settings
        hedger_settings = replace(
            settings.hedger,
            instrument_id=settings.instrument_id if leg.rolls else leg.instrument_id,
            allocation=self.allocation if len(self.allocation.legs) > 1 else None,
            leg_index=index,
            venue_leverage=Decimal(settings.exchange_leverage),
        )
        hedger = HedgeCycle(
            self.store, self.venue, bus, self.clock, policy, hedger_settings,
            weights=weights,  # type: ignore[arg-type]
        )  # fmt: skip
        run = LegRun(leg, hedger, int(hedger_settings.roll_lead_seconds * 1000))
        run.next_roll_ms = run.roll_due_ms(self._path.start_ms)
        return run

    # -- the run ----------------------------------------------------------------------------------

    async def run(self, progress: Progress | None = None) -> PolicyResult:
        await self._open()
        started = time.process_time()  # one core's time, whatever else the machine runs
        await self._replay(progress)
        elapsed = time.process_time() - started
        return self._result(elapsed)

    async def _open(self) -> None:
        path, settings = self._path, self._settings
        self.engine.set_book_shape(DEEP_BOOK)
        self._set_price(path.start_ms, path.tick_prices[0], float(path.tick_usd[0]))
        initial_cents = int(settings.initial_liability_usd * 100)
        if initial_cents > 0:
            change = LiabilityChange("backtest-start", initial_cents, "at the start", "backtest")
            await self.store.ledger.append(change, new_correlation_id(), path.start_ms)
        self._liability_cents = initial_cents
        wanted = self._wanted_collateral(settings.initial_liability_usd)
        if wanted > 0:
            self.engine.credit_trading(wanted, self.instrument.settle_currency)
            share = settings.collateral.funding_reserve_share
            reserve = (wanted * share).quantize(SAT, rounding=ROUND_FLOOR)
            if reserve > 0:
                self.engine.credit_funding(reserve, self.instrument.settle_currency)
        self.venue.latency_ms = 0
        for leg in self.legs:
            await self._hedge_cycle(leg, "startup")
        await self.funding.cycle("startup")
        self.venue.latency_ms = settings.costs.latency_ms
        self.fills.opening = False
        self._book_bar = -1  # the book model from the first minute on
        self._orders_at_start = len(self.store.trail.orders)
        self._transfers_at_start = len(self.engine.transfers)
        self._withdrawals_at_start = len(self.engine.wallet.withdrawals())
        self._deposits_at_start = len(self.engine.wallet.deposits())
        size, avg, liq = self._hedge_state()
        self._changed = False
        self.recorder.begin(
            initial_cents / 100,
            self._mark_usd,
            size,
            avg,
            float(self.engine.trading_cash(self.instrument.settle_currency)),
            liq,
        )

    async def _replay(self, progress: Progress | None) -> None:
        path, flows = self._path, self._inputs.flows
        tick_ms, prices, floats = path.tick_ms.tolist(), path.tick_prices, path.tick_usd.tolist()
        flow_ms, flow_cents = flows.ts_ms, flows.delta_cents
        flow_index, flow_count = 0, len(flows)
        funding_every_ms = int(self._settings.funding_check_interval_seconds * 1000)
        funding_due_ms = path.start_ms + funding_every_ms
        price_sensitive = not self._inverse
        clock, funding, legs = self.clock, self.funding, self.legs
        single = len(legs) == 1 and not legs[0].rolls and self.carry is None
        for index in range(1, len(tick_ms)):
            ms = tick_ms[index]
            while flow_index < flow_count and flow_ms[flow_index] < ms:
                await self._flow(flow_ms[flow_index], flow_cents[flow_index])
                flow_index += 1
            if ms > clock.now_ms():
                clock.set(ms)
            else:
                ms = clock.now_ms()  # an order's latency took the clock past this tick
            self._next_tick = index
            if self.fills.resting:
                self._shape_book(ms)
            self._set_price(ms, prices[index], floats[index])
            self._next_tick = index + 1
            if self._changed:
                await self._venue_changed()
            if funding.on_price(prices[index]):
                await self._funding_cycle("price")
            if ms >= funding_due_ms:
                funding_due_ms += funding_every_ms
                await self._funding_cycle("periodic")
            if single:
                if price_sensitive or legs[0].due_ms is not None:
                    await self._maybe_hedge("price")
            else:
                await self._timed_checks(ms, price_sensitive)
            if progress is not None and index % PROGRESS_EVERY_TICKS == 0:
                progress(PROGRESS_EVERY_TICKS)
        while flow_index < flow_count:
            await self._flow(flow_ms[flow_index], flow_cents[flow_index])
            flow_index += 1
        self.events = len(tick_ms) - 1 + flow_count
        if progress is not None:
            progress((len(tick_ms) - 1) % PROGRESS_EVERY_TICKS)

    async def _timed_checks(self, ms: int, price_sensitive: bool) -> None:
        """With several legs: the carry allocation's check, rolls due, rechecks asked for."""
        if self.carry is not None and self.carry.check(ms):
            for leg in self.legs:
                leg.wake()
            await self._maybe_hedge("allocation")
            return
        for leg in self.legs:
            roll_ms = leg.next_roll_ms
            if roll_ms is not None and ms >= roll_ms:
                leg.wake()
                leg.due_ms = ms  # the roll steps are cycles of their own
                leg.next_roll_ms = leg.roll_due_ms(ms)
        if price_sensitive or any(leg.due_ms is not None for leg in self.legs):
            await self._maybe_hedge("price")

    # -- events -----------------------------------------------------------------------------------

    async def _flow(self, ts_ms: int, delta_cents: int) -> None:
        if ts_ms > self.clock.now_ms():
            self.clock.set(ts_ms)
        memo = "a user buys USD" if delta_cents > 0 else "a user sells USD"
        await self._liability.post(f"flow-{ts_ms}-{self.events}", delta_cents, memo, "backtest")
        self.events += 1
        self._liability_cents += delta_cents
        self.recorder.flow(self._next_tick, delta_cents / 100, self._mark_usd)
        if self.funding.on_liability(self._liability_cents):
            await self._funding_cycle("liability")
        await self._maybe_hedge("liability")

    async def _venue_changed(self) -> None:
        """A fill, a liquidation or a funding payment: recorded, and both services told."""
        self._record_state()
        await self._funding_cycle("position")
        await self._maybe_hedge("position")

    async def _maybe_hedge(self, reason: str) -> None:
        """Each leg that would trade, the ones growing first: while weight moves between legs,
        the leg that takes it is opened before the one that gives it is closed."""
        legs = self.legs
        if len(legs) > 1:
            legs = sorted(legs, key=self._growth, reverse=True)
        for leg in legs:
            await self._maybe_hedge_leg(leg, reason)

    def _growth(self, leg: LegRun) -> int:
        target = leg.hedger.share_cents(self._liability_cents) // 10_000
        return target - abs(int(leg.size))

    async def _maybe_hedge_leg(self, leg: LegRun, reason: str) -> None:
        for _ in range(3):  # a fill is followed by the cycle its position change triggers
            now = self.clock.now_ms()
            wanted, why = leg.wants_cycle(now, self._liability_cents, self._mark, self._inverse)
            if not wanted:
                return
            reason = why or reason
            size_before = leg.size
            await self._hedge_cycle(leg, reason)
            if self._changed:
                self._record_state()
                await self._funding_cycle("position")
            if leg.size == size_before:  # refused, or resting: the periodic check retries
                interval_ms = int(self._settings.hedger.check_interval_seconds * 1000)
                inputs = leg.inputs(self._liability_cents, self._mark, self._inverse)
                leg.held_still(inputs, self.clock.now_ms(), interval_ms)
                return
            reason = "position"

    async def _funding_cycle(self, reason: str) -> None:
        await self.funding.cycle(reason)
        self._record_state()

    async def _hedge_cycle(self, leg: LegRun, reason: str) -> None:
        await leg.hedger.cycle(reason, new_correlation_id())
        if leg.hedger.recheck_in_seconds is not None:
            leg.recheck(self.clock.now_ms() + int(leg.hedger.recheck_in_seconds * 1000))

    def _record_state(self) -> None:
        size, avg, liq = self._hedge_state()
        self._changed = False
        self.recorder.state(
            self._next_tick,
            self._mark_usd,
            size,
            avg,
            float(self.engine.trading_cash(self.instrument.settle_currency)),
            liq,
        )

    def _hedge_state(self) -> tuple[float, float, float]:
        """Every leg's contracts, their average price and the liquidation price of them all
        on the one account (spot-equivalent: every contract is 100 USD of face value)."""
        if len(self.legs) == 1 and not self.legs[0].rolls:
            position = self.engine.position(self.instrument.instrument_id)
            self.legs[0].size = position.size_contracts
            return (
                float(position.size_contracts),
                float(position.avg_price_usd or 0),
                float(position.liquidation_price_usd or 0),
            )
        total, inverse_sum = Decimal(0), Decimal(0)
        self._futures_held = False
        for leg in self.legs:
            leg.size = Decimal(0)
        for instrument_id in self.engine.live_instrument_ids:
            position = self.engine.position(instrument_id)
            if position.size_contracts == 0 or position.avg_price_usd is None:
                continue
            owner = next(leg for leg in self.legs if leg.owns(instrument_id))
            self._futures_held |= instrument_id != self.instrument.instrument_id
            owner.size += position.size_contracts
            self._track_basis(instrument_id, position.size_contracts)
            total += position.size_contracts
            inverse_sum += position.size_contracts / position.avg_price_usd
        for instrument_id in self.futures.delivered(self.engine.live_instrument_ids):
            self._track_basis(instrument_id, Decimal(0))
        if total == 0:
            return 0.0, 0.0, 0.0
        avg = total / inverse_sum
        cash = self.engine.trading_cash(self.instrument.settle_currency)
        liq = inverse_liquidation_price_usd(
            total, self.instrument.contract_value, avg, cash,
            self._settings.maintenance_margin_rate,
        )  # fmt: skip
        return float(total), float(avg), float(liq or 0)

    def _track_basis(self, instrument_id: str, size: Decimal) -> None:
        """A future's position that moved without a fill seen (a liquidation): at its basis."""
        if instrument_id == self.instrument.instrument_id:
            return
        moved = float(size) - self.basis.contracts(instrument_id)
        if moved:
            earned = self.basis.trade(instrument_id, moved, self.futures.basis_now(instrument_id))
            self._cost(self.clock.now_ms(), "basis", -earned)

    # -- the simulated market ---------------------------------------------------------------------

    def _set_price(self, ms: int, price: Decimal, price_usd: float, force: bool = False) -> None:
        boundary = self._next_boundary_ms
        self._mark, self._mark_usd = price, price_usd  # before: resting orders fill at it
        self.engine.set_price(ms, price, self.instrument.instrument_id)
        if self.futures.instruments and (
            force or self._futures_held or self.fills.resting or ms >= self._futures_due_ms
        ):
            self._price_futures(ms, price_usd)
        if boundary is None or ms >= boundary:
            self._after_funding_boundary()

    def _price_futures(self, ms: int, spot_usd: float) -> None:
        """Every tick while the account holds a future or an order rests, and when an order
        arrives; else once a bar (what nobody holds only needs a price to be looked at)."""
        for instrument_id, future_price in self.futures.prices(ms, spot_usd):
            self.engine.set_price(ms, future_price, instrument_id)
        self._futures_due_ms = (ms // BAR_MS + 1) * BAR_MS

    def _move_to(self, ms: int) -> None:
        """An order arrives at `ms`: the clock and the market move there first."""
        if ms <= self.clock.now_ms():
            return
        self.clock.set(ms)
        if self.fills.opening:
            return
        self._shape_book(ms)
        price = self._path.price_at(ms)
        self._set_price(ms, price, float(price), force=True)

    def _shape_book(self, ms: int) -> None:
        path = self._path
        bar = min(max((ms - path.start_ms) // BAR_MS, 0), path.bars - 1)
        if bar == self._book_bar:
            return
        self._book_bar = bar
        close = float(path.bar_close_usd[bar])
        contract_usd = float(self.instrument.notional_usd(Decimal(1), self._mark))
        self.engine.set_book_shape(
            self._settings.costs.book.shape(
                close,
                float(path.bar_high_usd[bar]),
                float(path.bar_low_usd[bar]),
                float(path.bar_volume[bar]) if path.has_volume else 0.0,
                contract_usd,
            )
        )

    def _after_funding_boundary(self) -> None:
        """Funding paid at a boundary just crossed is booked; the next boundary's rate set."""
        payments = self.engine.funding_payments
        for payment in payments[self._payments_seen :]:
            usd = payment.amount_btc * (payment.mark_price_usd if self._inverse else 1)
            self._cost(payment.ts_ms, "funding", -float(usd))
            self._changed = True
        self._payments_seen = len(payments)
        boundary = self.engine.next_funding_ms(self.instrument.instrument_id)
        self._next_boundary_ms = boundary
        if boundary is not None and boundary <= self._path.end_ms:
            rate = self._inputs.funding.rate_at(boundary)
            self.engine.set_funding_rate(rate, self.instrument.instrument_id)

    # -- engine listeners -------------------------------------------------------------------------

    def _on_position(self, event: PositionChanged) -> None:
        self._changed = True
        if event.reason is ChangeReason.LIQUIDATION:
            self._liquidations += 1

    def _on_order(self, event: OrderChanged) -> None:
        self.fills.on_order(event, self._mark, self._mark_usd, self._next_tick)

    def _cost(self, ts_ms: int, component: str, usd: float) -> None:
        self.recorder.cost(ts_ms, component, usd)

    # -- helpers ----------------------------------------------------------------------------------

    def _liability_now(self) -> int:
        return self._liability_cents

    def _wanted_collateral(self, liability_usd: Decimal) -> Decimal:
        target = self._settings.collateral.target_leverage
        units = liability_usd / self._mark if self._inverse else liability_usd
        return (units / target).quantize(SAT, rounding=ROUND_FLOOR)

    # -- the result -------------------------------------------------------------------------------

    def _book_open_basis(self) -> None:
        """The futures still open at the end, at the model's basis then: a loss is counted, a
        gain not realised is not (the lower of cost and market), so that a crash discount
        that happened to widen after the short was sold is not claimed as earned."""
        basis_now = {
            i.instrument_id: self.futures.basis_now(i.instrument_id)
            for i in self.futures.instruments
        }
        open_usd = self.basis.open_value_usd(basis_now)
        if open_usd < 0:
            self._cost(self._path.end_ms, "basis", -open_usd)

    def _result(self, elapsed_s: float) -> PolicyResult:
        if self.futures.instruments:
            self._book_open_basis()
        finished = FinishedRun(
            policy=self._policy_name,
            instrument=self.instrument,
            path=self._path,
            settings=self._settings,
            engine=self.engine,
            trail=self.store.trail,
            recorder=self.recorder,
            fills=tuple(self.fills.marks),
            orders_at_start=self._orders_at_start,
            transfers_at_start=self._transfers_at_start,
            withdrawals_at_start=self._withdrawals_at_start,
            deposits_at_start=self._deposits_at_start,
            liquidations=self._liquidations,
            opening_cost_usd=self.fills.opening_cost_usd,
            events=self.events,
            elapsed_s=elapsed_s,
        )
        return summarize(finished)

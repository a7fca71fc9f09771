"""The funding manager: keeps the collateral on the exchange inside the policy's leverage
bounds, no more and no less, and watches how far the hedge is from liquidation.

A cycle reads the account (liability share, positions, balances, leverage at the mark),
follows the money already moving, asks the policy, and acts, recording every decision that
changes anything. What it will not do, and records why:
- a transfer or withdrawal while another is pending, a deposit while one is on its way, and
  anything moving money the other way while one is open (`OperationKind.waits_for`);
- take collateral out while the hedge is outside its brackets (the hedger needs it);
- repeat an action the venue or wallet refused until its inputs change (the liability, the
  hedge's size, the funding balance or, for a deposit, the wallet's balance).

Triggers: liability changes and filled orders on the bus, the periodic check, and price ticks
(`on_price`), which cost no request: the last reading is re-priced and a cycle is asked for
only when the policy would act or the liquidation distance falls under the floor. A cycle a
price tick asked for reads the venue only: the liability and the operations in flight are
the ones the last full cycle read from the store (every other trigger reads them again).
Periodic checks store the swap's funding payments; all runs on the Clock port, no real sleep.
A policy that reads the recent past (liquidation-floor) gets the outlook of what this manager
sees (outlook_feed.py), in the backtester as in production.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import structlog

from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.collateral import (
    AlertKind,
    CollateralDecisionRecord,
    CollateralOperation,
    LeverageSnapshot,
    OperationKind,
    OperationRecord,
    OperationState,
    Severity,
)
from pegkeeper.domain.collateral_policy import (
    CollateralActionKind,
    CollateralDecision,
    CollateralPolicy,
)
from pegkeeper.domain.errors import SlotTaken, VenueError
from pegkeeper.domain.events import (
    TOPIC_LEVERAGE,
    TOPIC_LIABILITY,
    TOPIC_ORDER,
    LeverageMeasured,
    OrderUpdated,
    decode_event,
    encode_event,
)
from pegkeeper.domain.leverage import LeverageReading
from pegkeeper.ports import Bus, Clock, FundingVenue, ReadinessGate, Store, Venue, Wallet
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.collateral.funding_payments import FundingPaymentRecorder
from pegkeeper.services.collateral.operations import Cannot, OperationRunner, OperationSettings
from pegkeeper.services.collateral.outlook_feed import OutlookFeed
from pegkeeper.services.collateral.reading import (
    AccountReader,
    AccountState,
    QuietBand,
    estimate_at,
)
from pegkeeper.services.collateral.watch import AccountCheck, Brackets, CollateralWatch, FeedHealth
from pegkeeper.services.ids import new_correlation_id
from pegkeeper.services.trigger_loop import Trigger, TriggerLoop

log = structlog.get_logger("pegkeeper.funding")


@dataclass(frozen=True, slots=True)
class CollateralSettings:
    currency: str = "BTC"
    venue_name: str = "primary"
    check_interval_seconds: float = 10.0
    leverage_snapshot_interval_seconds: float = 60.0
    maintenance_margin_rate: Decimal = Decimal("0.004")
    hedge_low_bound_ratio: Decimal = Decimal("0.95")  # the hedge policy's brackets
    hedge_high_bound_ratio: Decimal = Decimal("1.03")
    hedge_minimum_liability_cents: int = 5_000
    roll_lead_seconds: float = 86_400.0
    account_check_interval_seconds: float = 3_600.0
    operations: OperationSettings = field(default_factory=OperationSettings)


class CollateralManager:
    def __init__(
        self,
        store: Store,
        venue: Venue,
        funding_venue: FundingVenue,
        wallet: Wallet | None,
        bus: Bus,
        clock: Clock,
        policy: CollateralPolicy,
        allocation: Allocation,
        alerter: Alerter,
        settings: CollateralSettings,
        *,
        rng: random.Random | None = None,
        feeds: FeedHealth | None = None,
        account_check: AccountCheck | None = None,
        gate: ReadinessGate | None = None,
    ) -> None:
        self._store = store
        self._gate = gate  # closed (a half-imported ledger): no collateral leaves
        self._bus = bus
        self._clock = clock
        self.policy = policy
        self.alerter = alerter
        self.settings = settings
        self._watch = CollateralWatch(
            alerter,
            clock,
            Brackets(
                settings.hedge_low_bound_ratio,
                settings.hedge_high_bound_ratio,
                settings.hedge_minimum_liability_cents,
            ),
            f"{settings.venue_name} {settings.currency}",
            settings.account_check_interval_seconds,
            feeds,
            account_check,
        )
        self._band = QuietBand(policy, alerter.settings.liquidation_distance_floor_pct)
        self._reader = AccountReader(
            store,
            venue,
            clock,
            allocation,
            settings.currency,
            settings.maintenance_margin_rate,
            int(settings.roll_lead_seconds * 1000),
            settings.venue_name,
        )
        ops, name = settings.operations, settings.venue_name
        self._ops = OperationRunner(
            store.funding, funding_venue, wallet, clock, alerter, ops, rng, venue_name=name
        )
        self._account = (settings.currency, name)  # the others' operations are theirs
        self._payments = FundingPaymentRecorder(
            store.funding, funding_venue, clock, settings.venue_name, settings.currency
        )
        self._wallet = wallet
        self._outlook = OutlookFeed(policy.outlook, clock)
        self._ops.on_deposit_credited = self._outlook.deposit_credited
        self._loop = TriggerLoop("funding", clock, settings.check_interval_seconds)
        self.state: AccountState | None = None
        self._mark_usd: Decimal | None = None  # the last price `on_price` was told
        self._open_ops: list[OperationRecord] | None = None  # as the last cycle left them
        self._quiet_kind: CollateralActionKind | None = None  # decided, waiting: not re-asked
        self._refused: dict[CollateralActionKind, tuple[object, ...]] = {}
        self._last_recorded: tuple[object, ...] | None = None
        self._last_snapshot: tuple[int, Decimal | None] | None = None
        self.ready = asyncio.Event()
        self.cycles = 0

    # -- triggers ------------------------------------------------------------------------------

    def trigger(self, reason: str, correlation_id: str | None = None) -> None:
        self._loop.trigger(reason, correlation_id)

    def on_price(self, mark_price_usd: Decimal) -> bool:
        """A new mark price. Re-prices the last reading without any request; asks for a cycle
        (and returns True) when the policy would act on it or the liquidation distance falls
        under the floor. Inside the band of prices where neither happens it costs two
        comparisons."""
        if mark_price_usd <= 0:
            return False
        outlook = self._outlook
        if outlook.reads:  # for a policy that reads none, no call on every tick
            outlook.price(mark_price_usd)
            if self.state is not None:
                self.state = outlook.applied(self.state)
        state = self.state
        if state is None:
            return False
        self._mark_usd = mark_price_usd
        if self._band.contains(state, mark_price_usd, self._quiet_kind):
            return False
        kind = self.policy.decide(estimate_at(state, mark_price_usd)).action.kind
        below = self._band.below_floor_at(state, mark_price_usd)
        wake = (kind is not CollateralActionKind.HOLD and kind is not self._quiet_kind) or (
            below and not self._watch.below_floor
        )
        if wake:
            self.trigger("price")
        return wake

    def on_liability(self, total_liability_cents: int) -> bool:
        """A new total liability, before any cycle has read it. Asks for a cycle (and returns
        True) when the policy would act on it at the last reading, re-priced at the last mark
        `on_price` was told; costs no request."""
        state = self.state
        if state is None:
            return False
        share_cents = self._reader.share_cents(total_liability_cents)
        outlook = self._outlook
        if outlook.reads:
            outlook.liability(share_cents)
        if share_cents == state.liability_cents:
            return False
        if outlook.reads:
            state = self.state = outlook.applied(state)
        estimate = estimate_at(state, self._mark_usd or state.reading.mark_price_usd, share_cents)
        kind = self.policy.decide(estimate).action.kind
        wake = kind is not CollateralActionKind.HOLD and kind is not self._quiet_kind
        if wake:
            self.trigger("liability")
        return wake

    @property
    def following(self) -> bool:
        """Whether the last cycle left operations in flight (a transfer, a deposit, ...)."""
        return bool(self._open_ops)

    async def run(self) -> None:
        await self._loop.run(
            self._run_cycle,
            [self._listen_liability(), self._listen_orders()],
            started=self.ready,
        )

    async def _run_cycle(self, trigger: Trigger) -> None:
        await self.cycle(trigger.reason, trigger.correlation_id)

    # -- one cycle -----------------------------------------------------------------------------

    async def cycle(
        self, reason: str, correlation_id: str | None = None
    ) -> CollateralDecisionRecord | None:
        """Read, follow what moves, decide, act. Returns the decision (None: unreadable)."""
        self.cycles += 1
        correlation_id = correlation_id or new_correlation_id()
        if reason in ("periodic", "startup"):
            await self._watch.periodic()
            await self._payments.collect()
        from_store = reason != "price" or self._open_ops is None or self.state is None
        total = None if from_store or self.state is None else self.state.total_liability_cents
        state = await self._read(correlation_id, total_cents=total)
        if state is None:
            return None
        open_ops = self._open_ops
        if from_store or open_ops is None:
            open_ops = [
                record
                for record in await self._store.funding.open_operations()
                if (record.operation.currency, record.operation.venue) == self._account
            ]
        if open_ops:
            still_open = await self._ops.follow(
                open_ops, state.reading.leverage, self.policy.high_bound_leverage
            )
            if len(still_open) < len(open_ops):
                # money arrived or left since the reading: decide on balances that show it,
                # or a deposit just credited would be sent again
                state = await self._read(correlation_id, total_cents=state.total_liability_cents)
                if state is None:
                    return None
            open_ops = still_open
        self._open_ops = open_ops
        decision = self.policy.decide(state.inputs)
        decision_id = new_correlation_id()
        outcome, operation = await self._choose(
            decision, state, open_ops, decision_id, correlation_id
        )
        record = self._record_of(decision, state, reason, decision_id, correlation_id, outcome)
        if operation is None:
            self._quiet_kind = None if decision.action.is_hold else decision.action.kind
            if self._worth_recording(record):
                await self._store.funding.record_decision(record)
            return record
        self._quiet_kind = None
        self._last_recorded = None
        try:
            await self._ops.execution.open(record, operation)
        except SlotTaken as error:
            log.info("another writer moves money on this account first", detail=str(error))
            self._open_ops = None
            return None
        self._open_ops = None  # read again: the new operation may still be in flight
        update = await self._ops.execute(operation)
        kind = decision.action.kind
        if update.state is OperationState.REFUSED:
            self._refused[kind] = await self._refusal_key(kind, state)
            self._alert_refused(decision, update.message, operation.operation_id)
        else:
            self._refused.pop(kind, None)
        await self._read(correlation_id, True, state.total_liability_cents, same_positions=state)
        return record

    async def _gate_closed(self) -> str:
        """Why the ledger gate is closed, or "" while it is open."""
        if self._gate is None:
            return ""
        readiness = await self._gate.readiness()
        return "" if readiness.ready else readiness.reason

    async def _read(
        self,
        correlation_id: str,
        force_snapshot: bool = False,
        total_cents: int | None = None,
        same_positions: AccountState | None = None,
    ) -> AccountState | None:
        try:
            state = await self._reader.read(total_cents, same_positions)
        except (VenueError, OSError, TimeoutError) as error:
            self._watch.unreadable(error)
            return None
        self.state = state = self._outlook.read(state)
        await self._publish(state.reading, self._clock.now_ms())
        await self._maybe_snapshot(state, correlation_id, force_snapshot)
        self._watch.read(state)
        return state

    async def _choose(
        self,
        decision: CollateralDecision,
        state: AccountState,
        open_ops: list[OperationRecord],
        decision_id: str,
        correlation_id: str,
    ) -> tuple[str, CollateralOperation | None]:
        kind = decision.action.kind
        if kind is CollateralActionKind.HOLD:
            return "hold", None
        busy = _blocking(kind, open_ops)
        if busy is not None:
            return f"waits: {busy.operation.kind.value} {busy.operation.operation_id} pending", None
        if kind.takes_collateral_out and self._watch.brackets.outside(state):
            return "waits: the hedge is outside its brackets", None
        if kind.takes_collateral_out and (waiting := await self._gate_closed()):
            # the liability is not known for sure; collateral may still come in, for safety
            return f"waits: {waiting}", None
        if kind in self._refused and self._refused[kind] == await self._refusal_key(kind, state):
            return "refused-before: not retried until its inputs change", None
        prepared = await self._ops.prepare(
            decision.action,
            self.settings.currency,
            state.balances.funding_balance,
            open_ops,
            decision_id,
            correlation_id,
        )
        if isinstance(prepared, Cannot):
            self._refused[kind] = await self._refusal_key(kind, state)
            self.alerter.condition(  # a standing limit: alerted again only after a while
                AlertKind.FUNDING_REFUSED,
                f"{kind.value} {self.settings.currency}: {prepared.reason}",
                f"{kind.value} of {self.settings.currency} cannot be done",
                f"{prepared.reason}; the policy asks for {decision.action.amount} "
                f"{self.settings.currency} ({decision.rule})",
                {"rule": decision.rule},
            )
            return f"cannot: {prepared.reason}", None
        return "acted", prepared

    async def _refusal_key(
        self, kind: CollateralActionKind, state: AccountState
    ) -> tuple[object, ...]:
        """What must change before a refused action is tried again: the liability, the hedge's
        size, the funding balance and, for a deposit, the wallet's balance."""
        wallet_sats: int | None = None
        if kind is CollateralActionKind.DEPOSIT and self._wallet is not None:
            try:
                wallet_sats = await self._wallet.balance_sats()
            except VenueError:
                wallet_sats = None
        inputs = state.inputs
        return (
            inputs.liability_cents,
            state.reading.position_contracts,
            inputs.funding_balance,
            wallet_sats,
        )

    def _alert_refused(
        self, decision: CollateralDecision, why: str, operation_id: str = ""
    ) -> None:
        action = decision.action
        self.alerter.event(
            AlertKind.FUNDING_REFUSED,
            f"{action.kind.value} of {action.amount} {self.settings.currency} refused",
            f"{why}; not retried until the liability, the hedge or the balances change",
            {"rule": decision.rule, "operation_id": operation_id},
            severity=Severity.WARNING,
        )

    # -- records -------------------------------------------------------------------------------

    def _record_of(
        self,
        decision: CollateralDecision,
        state: AccountState,
        reason: str,
        decision_id: str,
        correlation_id: str,
        outcome: str,
    ) -> CollateralDecisionRecord:
        inputs = state.inputs
        leverage = state.reading.leverage
        return CollateralDecisionRecord(
            decision_id=decision_id,
            correlation_id=correlation_id,
            created_at_ms=self._clock.now_ms(),
            trigger=reason,
            policy=decision.policy,
            rule=decision.rule,
            action=decision.action.kind.value,
            amount=decision.action.amount,
            currency=self.settings.currency,
            liability_cents=inputs.liability_cents,
            exposure_cents=inputs.exposure_cents,
            collateral=inputs.collateral,
            funding_balance=inputs.funding_balance,
            price_usd=state.reading.mark_price_usd,
            leverage=None
            if leverage is None
            else leverage.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN),
            outcome=outcome,
            venue=self.settings.venue_name,
        )

    def _worth_recording(self, record: CollateralDecisionRecord) -> bool:
        """Every decision that changes something; a repeat with the same inputs is not."""
        key = (record.action, record.outcome, record.liability_cents, record.exposure_cents)
        if key == self._last_recorded:
            return False
        self._last_recorded = key
        return True

    async def _maybe_snapshot(self, state: AccountState, correlation_id: str, force: bool) -> None:
        reading, now_ms = state.reading, self._clock.now_ms()
        last = self._last_snapshot
        interval_ms = self.settings.leverage_snapshot_interval_seconds * 1000
        due = last is None or now_ms - last[0] >= interval_ms
        moved = last is not None and _moved(last[1], reading.leverage)
        if not (force or due or moved):
            return
        self._last_snapshot = (now_ms, reading.leverage)
        await self._store.funding.record_leverage(
            LeverageSnapshot(
                created_at_ms=now_ms,
                correlation_id=correlation_id,
                venue=self.settings.venue_name,
                currency=reading.currency,
                mark_price_usd=reading.mark_price_usd,
                position_contracts=reading.position_contracts,
                notional=reading.notional.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_EVEN),
                equity=reading.equity,
                funding_balance=state.balances.funding_balance,
                leverage=_q(reading.leverage, "0.0001"),
                liquidation_price_usd=_q(reading.liquidation_price_usd, "0.01"),
                liquidation_source=reading.liquidation_source.value,
                distance_pct=_q(reading.distance_pct, "0.01"),
            )
        )

    async def _publish(self, reading: LeverageReading, now_ms: int) -> None:
        event = LeverageMeasured(
            venue=self.settings.venue_name,
            currency=reading.currency,
            mark_price_usd=str(reading.mark_price_usd),
            leverage=_text(_q(reading.leverage, "0.0001")),
            liquidation_price_usd=_text(_q(reading.liquidation_price_usd, "0.01")),
            distance_pct=_text(_q(reading.distance_pct, "0.01")),
            ts_ms=now_ms,
        )
        await self._bus.publish(TOPIC_LEVERAGE, encode_event(event))

    # -- listening -----------------------------------------------------------------------------

    async def _listen_liability(self) -> None:
        subscription = self._bus.subscribe(TOPIC_LIABILITY)
        try:
            async for _ in subscription:
                self.trigger("liability")
        finally:
            await subscription.close()

    async def _listen_orders(self) -> None:
        """A filled order changes the exposure the collateral backs."""
        subscription = self._bus.subscribe(TOPIC_ORDER)
        try:
            async for _, payload in subscription:
                event = decode_event(payload)
                if isinstance(event, OrderUpdated) and event.state == "filled":
                    self.trigger("position", event.correlation_id)
        finally:
            await subscription.close()


def _blocking(
    kind: CollateralActionKind, open_ops: list[OperationRecord]
) -> OperationRecord | None:
    """The open operation that keeps `kind` from being sent now, if any."""
    wanted = OperationKind.of(kind)
    return next((r for r in open_ops if wanted.waits_for(r.operation.kind)), None)


def _moved(before: Decimal | None, now: Decimal | None) -> bool:
    if before is None or now is None:
        return before is not now
    return abs(now - before) >= Decimal("0.1")


def _q(value: Decimal | None, places: str) -> Decimal | None:
    return None if value is None else value.quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)

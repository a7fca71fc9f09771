"""The funding manager's hands: it prepares, sends and follows the money it moves.

Order of operations that keeps money from moving twice (the execution core's, as the hedger's
orders: services/execution/operations.py):
1. the operation, with its client id (and, for a deposit, its exact amount and address), is
   committed with its decision before any request; the database refuses a second open
   operation of the same account and class;
2. an answer that leaves the outcome open (timeout, 5xx) is recorded `unknown` and the client
   id is looked up (the venue's transfer or withdrawal by client id, the wallet's payments by
   comment) before anything new is sent; what the venue never saw after the lookup window is
   `lost` (a transfer, a withdrawal); a deposit the wallet does not show after its lookup
   window is `held` for an operator, who settles it (services/collateral/held.py);
3. a deposit counts as arrived only when the exchange's history shows it at the deposit
   address with its exact amount, credited for good; one not seen within the timeout is `lost`
   and alerted; while it waits unconfirmed and the leverage is above the high bound, its fee
   is bumped a step at a time up to the maximum, each bump recorded.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

import structlog

from pegkeeper.domain.collateral import (
    AlertKind,
    CollateralOperation,
    FeeBump,
    OperationKind,
    OperationRecord,
    OperationState,
    OperationUpdate,
    held_deposit_action,
)
from pegkeeper.domain.collateral_policy import CollateralAction
from pegkeeper.domain.errors import ConflictError, NotFound, OrderRejected, VenueError
from pegkeeper.domain.units import btc_to_sats, floor_btc, sats_to_btc
from pegkeeper.domain.venue import (
    PRIMARY_VENUE,
    DepositRecord,
    MovementState,
    TransferReport,
    WithdrawalReport,
)
from pegkeeper.ports import Clock, CollateralRepository, FundingVenue, Wallet
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.execution.operations import OperationExecution
from pegkeeper.services.ids import new_client_order_id

log = structlog.get_logger("pegkeeper.funding")


@dataclass(frozen=True, slots=True)
class OperationSettings:
    lookup_window_seconds: float = 30.0
    # a deposit send with no answer that the wallet does not show after this long is held for
    # an operator: longer than the node can take to process a send it received
    deposit_lookup_window_seconds: float = 600.0
    deposit_timeout_seconds: float = 3_600.0
    deposit_fee_rate_sat_vb: Decimal = Decimal(5)
    fee_bump_after_seconds: float = 600.0
    fee_bump_step_sat_vb: Decimal = Decimal(5)
    max_fee_rate_sat_vb: Decimal = Decimal(100)
    deposit_jitter_max_sats: int = 1_000
    withdrawal_address: str = ""  # empty: a new address of the wallet for each withdrawal


@dataclass(frozen=True, slots=True)
class _Recorded:
    """An update the follower has already written (with a fee bump)."""

    update: OperationUpdate


@dataclass(frozen=True, slots=True)
class Cannot:
    """An action that cannot be prepared; nothing was sent."""

    reason: str


class OperationRunner:
    def __init__(
        self,
        repository: CollateralRepository,
        venue: FundingVenue,
        wallet: Wallet | None,
        clock: Clock,
        alerter: Alerter,
        settings: OperationSettings,
        rng: random.Random | None = None,
        *,
        venue_name: str = PRIMARY_VENUE,
    ) -> None:
        self._repository = repository
        self._venue_name = venue_name
        self._venue = venue
        self._wallet = wallet
        self._clock = clock
        self._alerter = alerter
        self.settings = settings
        self._rng = rng or random.Random()
        self.execution = OperationExecution(
            repository, clock, lookup_window_seconds=settings.lookup_window_seconds
        )
        self._deposit_address: dict[str, str] = {}
        # told (sent ms, credited ms) of every deposit seen credited
        self.on_deposit_credited: Callable[[int, int], None] = _ignored
        self._withdrawal_terms: dict[str, tuple[str, Decimal]] = {}
        self._held: set[str] = set()  # deposits seen held, whose send is not known yet

    # -- preparing -----------------------------------------------------------------------------

    async def prepare(
        self,
        action: CollateralAction,
        currency: str,
        funding_balance: Decimal,
        open_operations: list[OperationRecord],
        decision_id: str,
        correlation_id: str,
    ) -> CollateralOperation | Cannot:
        kind = OperationKind.of(action.kind)
        base = {
            "operation_id": new_client_order_id("pf"),
            "kind": kind,
            "currency": currency,
            "venue": self._venue_name,
            "decision_id": decision_id,
            "correlation_id": correlation_id,
            "created_at_ms": self._clock.now_ms(),
        }
        if kind.is_transfer:
            return CollateralOperation(amount=action.amount, **base)  # type: ignore[arg-type]
        if self._wallet is None and not (kind is OperationKind.WITHDRAWAL and self._has_address()):
            return Cannot(f"no onchain wallet for {currency} is configured")
        if kind is OperationKind.WITHDRAWAL:
            return await self._withdrawal(action, currency, funding_balance, base)
        return await self._deposit(action, currency, open_operations, base)

    def _has_address(self) -> bool:
        return bool(self.settings.withdrawal_address)

    async def _withdrawal(
        self, action: CollateralAction, currency: str, funding: Decimal, base: dict[str, object]
    ) -> CollateralOperation | Cannot:
        _, fee = await self._withdrawal_fee(currency)
        amount = floor_btc(min(action.amount, funding - fee))  # the fee comes on top
        if amount <= 0:
            return Cannot(f"the funding account cannot pay the withdrawal fee of {fee}")
        address = self.settings.withdrawal_address
        if not address:
            assert self._wallet is not None
            address = await self._wallet.new_address()
        return CollateralOperation(amount=amount, address=address, fee=fee, **base)  # type: ignore[arg-type]

    async def _deposit(
        self,
        action: CollateralAction,
        currency: str,
        open_operations: list[OperationRecord],
        base: dict[str, object],
    ) -> CollateralOperation | Cannot:
        address = self._deposit_address.get(currency)
        if address is None:
            try:
                address = await self._venue.deposit_address(currency)
            except NotFound as error:  # an address on another chain or account: never used
                return Cannot(str(error))
            self._deposit_address[currency] = address
        deposits = [r for r in open_operations if r.operation.kind is OperationKind.DEPOSIT]
        taken = {r.operation.amount for r in deposits}
        for _ in range(100):
            jitter = self._rng.randint(1, self.settings.deposit_jitter_max_sats)
            amount = action.amount + sats_to_btc(jitter)
            if amount not in taken:
                return CollateralOperation(amount=amount, address=address, **base)  # type: ignore[arg-type]
        return Cannot("no unique deposit amount left among the deposits on their way")

    async def _withdrawal_fee(self, currency: str) -> tuple[str, Decimal]:
        terms = self._withdrawal_terms.get(currency)
        if terms is None:
            terms = await self._venue.withdrawal_fee(currency)
            self._withdrawal_terms[currency] = terms
        return terms

    # -- sending -------------------------------------------------------------------------------

    async def execute(self, operation: CollateralOperation) -> OperationUpdate:
        """Sends the operation (already committed) and records what became of it."""
        return await self.execution.send(operation, self._send(operation))

    async def _send(self, op: CollateralOperation) -> OperationUpdate:
        if op.kind.is_transfer:
            source, target = op.kind.accounts
            report = await self._venue.transfer(
                op.operation_id, op.currency, op.amount, source, target
            )
            return _transfer_update(report)
        if op.kind is OperationKind.WITHDRAWAL:
            chain, _ = await self._withdrawal_fee(op.currency)
            return _withdrawal_update(
                await self._venue.withdraw(
                    op.operation_id, op.currency, op.amount, op.address, chain, op.fee
                )
            )
        assert self._wallet is not None
        tx_id = await self._wallet.send(
            op.address,
            btc_to_sats(op.amount),
            self.settings.deposit_fee_rate_sat_vb,
            op.operation_id,
        )
        return OperationUpdate(OperationState.PENDING, tx_id=tx_id, message="broadcast")

    # -- following -----------------------------------------------------------------------------

    async def follow(
        self,
        open_operations: list[OperationRecord],
        leverage: Decimal | None,
        high_bound_leverage: Decimal,
    ) -> list[OperationRecord]:
        """Looks every open operation up and records what changed; returns those still open,
        as they are now."""
        history: dict[str, list[DepositRecord]] = {}
        still_open = []
        for record in open_operations:
            try:
                found = await self._follow_one(record, history, leverage, high_bound_leverage)
            except (VenueError, OSError, TimeoutError) as error:
                log.warning(
                    "funding lookup failed",
                    operation=record.operation.operation_id,
                    error=str(error),
                )
                found = None
            if isinstance(found, _Recorded):
                record = self._applied(record, found.update)
            elif found is not None and _changed(record, found):
                update = OperationUpdate(
                    found.state,
                    found.venue_id or record.venue_id,
                    found.tx_id or record.tx_id,
                    found.message,
                    found.fee_sats,
                )
                try:
                    await self.execution.record(record.operation.operation_id, update)
                except ConflictError as error:  # settled by an operator since it was read
                    log.warning("lookup not recorded", error=str(error), tx_id=update.tx_id)
                    continue
                if update.state.is_terminal:
                    self._finished(record.operation, update.state)
                    continue
                record = self._applied(record, update)
            still_open.append(record)
        return still_open

    def _finished(self, op: CollateralOperation, state: OperationState) -> None:
        if op.kind is OperationKind.DEPOSIT and state is OperationState.DONE:
            self.on_deposit_credited(op.created_at_ms, self._clock.now_ms())

    def _applied(self, record: OperationRecord, update: OperationUpdate) -> OperationRecord:
        return replace(
            record,
            state=update.state,
            venue_id=update.venue_id,
            tx_id=update.tx_id,
            message=update.message,
            updated_at_ms=self._clock.now_ms(),
        )

    async def _follow_one(
        self,
        record: OperationRecord,
        history: dict[str, list[DepositRecord]],
        leverage: Decimal | None,
        high_bound: Decimal,
    ) -> OperationUpdate | _Recorded | None:
        op = record.operation
        if op.kind is OperationKind.DEPOSIT:
            return await self._follow_deposit(record, history, leverage, high_bound)
        return await self.execution.look_up(op, self._state_at_venue(op))

    async def _state_at_venue(self, op: CollateralOperation) -> OperationUpdate:
        if op.kind.is_transfer:
            return _transfer_update(await self._venue.transfer_state(op.operation_id))
        return _withdrawal_update(await self._venue.withdrawal(op.operation_id))

    async def _follow_deposit(
        self,
        record: OperationRecord,
        history: dict[str, list[DepositRecord]],
        leverage: Decimal | None,
        high_bound: Decimal,
    ) -> OperationUpdate | _Recorded | None:
        op = record.operation
        if not record.tx_id:
            return await self._find_send(record)
        if op.operation_id in self._held:
            # its send became known (found at last, or an operator named it): the deposit
            # timeout counts from now, not from a send the wallet did not show
            self._held.discard(op.operation_id)
            self.execution.restart_wait(op)
        if op.currency not in history:
            history[op.currency] = await self._venue.deposits(op.currency)
        seen = [
            d for d in history[op.currency] if d.address == op.address and d.amount == op.amount
        ]
        credited = next((d for d in seen if d.is_credited), None)
        if credited is not None:
            return OperationUpdate(
                OperationState.DONE,
                credited.deposit_id,
                credited.tx_id,
                f"state {credited.venue_state}",
                await self._fee_paid(credited.tx_id or record.tx_id),
            )
        if self._age_s(op) >= self.settings.deposit_timeout_seconds:
            self._alert_lost(record)
            return OperationUpdate(
                OperationState.LOST,
                record.venue_id,
                record.tx_id,
                f"not credited within {self.settings.deposit_timeout_seconds:g} s",
            )
        if leverage is not None and leverage > high_bound:
            bumped = await self._maybe_bump(record, leverage)
            return None if bumped is None else _Recorded(bumped)
        if seen and record.venue_id != seen[0].deposit_id:
            found = seen[0]
            message = f"seen by the exchange, state {found.venue_state}"
            return OperationUpdate(OperationState.PENDING, found.deposit_id, record.tx_id, message)
        return None

    async def _fee_paid(self, tx_id: str) -> int | None:
        """The onchain fee of the deposit's mined transaction, in sats (after fee bumps, the
        last replacement's: the only one that paid); None when the wallet cannot say now."""
        assert self._wallet is not None
        try:
            return (await self._wallet.transaction(tx_id)).fee_sats
        except (VenueError, OSError, TimeoutError) as error:
            log.warning("deposit fee not read", tx_id=tx_id, error=str(error))
            return None

    async def _find_send(self, record: OperationRecord) -> OperationUpdate | None:
        """A deposit whose send left no tx id: the wallet's payments with its id say. One the
        wallet does not show is never sent again: after the deposit lookup window it is held
        for an operator (and alerted once), still looked up, blocking further deposits."""
        assert self._wallet is not None
        op = record.operation
        if record.state is OperationState.HELD:
            self._held.add(op.operation_id)
        sent = await self._wallet.find_sent(op.operation_id, op.created_at_ms)
        live = [t for t in sent if not t.replaced_by_tx_id]
        if live:
            return OperationUpdate(
                OperationState.PENDING, tx_id=live[0].tx_id, message="found sent"
            )
        window_s = self.settings.deposit_lookup_window_seconds
        if self._age_s(op) < window_s:
            return None
        if record.state is not OperationState.HELD:
            self._alert_held(record, window_s)
        self._held.add(op.operation_id)
        return OperationUpdate(
            OperationState.HELD,
            message=f"the wallet shows no send after {window_s:g} s: held for an operator",
        )

    async def _maybe_bump(
        self, record: OperationRecord, leverage: Decimal
    ) -> OperationUpdate | None:
        """Bumps the fee when it is due; returns the operation's new state, as recorded."""
        assert self._wallet is not None
        op, settings = record.operation, self.settings
        tx = await self._wallet.transaction(record.tx_id)
        if tx.replaced_by_tx_id:  # replaced outside pegkeeper, or a bump whose answer was lost
            new = await self._wallet.transaction(tx.replaced_by_tx_id)
            return await self._record_bump(
                record,
                tx.fee_rate_sat_vb,
                new.tx_id,
                new.fee_rate_sat_vb,
                leverage,
                "replacement found in the wallet",
            )
        if tx.confirmations != 0:
            return None
        bumps = await self._repository.fee_bumps(op.operation_id)
        last_ms = bumps[-1].created_at_ms if bumps else op.created_at_ms
        if self._clock.now_ms() - last_ms < settings.fee_bump_after_seconds * 1000:
            return None
        rate = min(tx.fee_rate_sat_vb + settings.fee_bump_step_sat_vb, settings.max_fee_rate_sat_vb)
        if rate <= tx.fee_rate_sat_vb:
            return None  # at the maximum fee rate already
        try:
            new_tx_id = await self._wallet.bump_fee(record.tx_id, rate)
        except OrderRejected as error:
            log.warning("fee bump refused", operation=op.operation_id, error=str(error))
            return None
        return await self._record_bump(
            record,
            tx.fee_rate_sat_vb,
            new_tx_id,
            rate,
            leverage,
            f"fee bumped to {rate} sat/vB (leverage {leverage:.2f})",
        )

    async def _record_bump(
        self,
        record: OperationRecord,
        old_rate: Decimal,
        new_tx_id: str,
        new_rate: Decimal,
        leverage: Decimal,
        message: str,
    ) -> OperationUpdate:
        op = record.operation
        bump = FeeBump(
            operation_id=op.operation_id,
            old_tx_id=record.tx_id,
            new_tx_id=new_tx_id,
            old_fee_rate_sat_vb=old_rate,
            new_fee_rate_sat_vb=new_rate,
            leverage=leverage.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN),
            correlation_id=op.correlation_id,
            created_at_ms=self._clock.now_ms(),
        )
        update = OperationUpdate(OperationState.PENDING, record.venue_id, new_tx_id, message)
        await self._repository.record_fee_bump(bump, update)
        log.info("deposit fee bumped", operation=op.operation_id, rate=str(new_rate))
        return update

    def _alert_lost(self, record: OperationRecord) -> None:
        op = record.operation
        self._alerter.event(
            AlertKind.DEPOSIT_LOST,
            f"deposit of {op.amount} {op.currency} lost",
            f"not credited by the exchange within {self.settings.deposit_timeout_seconds:g} s; "
            "find the transaction and have the exchange credit it",
            {"operation_id": op.operation_id, "tx_id": record.tx_id, "address": op.address},
            op.correlation_id,
        )

    def _alert_held(self, record: OperationRecord, window_s: float) -> None:
        op = record.operation
        self._alerter.event(
            AlertKind.DEPOSIT_HELD,
            f"deposit of {op.amount} {op.currency} held: no deposit is sent until it is settled",
            f"the send of {op.operation_id} ({op.amount} {op.currency} to {op.address}) had no "
            f"answer and the wallet shows no payment labelled with its id after {window_s:g} s; "
            f"it is still looked up. To settle it: {held_deposit_action(op.operation_id)}",
            {"operation_id": op.operation_id, "address": op.address},
            op.correlation_id,
        )

    def _age_s(self, op: CollateralOperation) -> float:
        """Measured as every wait of the execution core is: a clock that jumps neither loses a
        deposit early nor holds it for ever."""
        return self.execution.waited_seconds(op)


def _ignored(sent_ms: int, credited_ms: int) -> None:
    pass


def _changed(record: OperationRecord, update: OperationUpdate) -> bool:
    return (update.state, update.venue_id or record.venue_id, update.tx_id or record.tx_id) != (
        record.state,
        record.venue_id,
        record.tx_id,
    )


_MOVEMENT_STATES = {
    MovementState.PENDING: OperationState.PENDING,
    MovementState.DONE: OperationState.DONE,
    MovementState.FAILED: OperationState.FAILED,
}


def _transfer_update(report: TransferReport) -> OperationUpdate:
    message = f"transfer {report.venue_state}"
    return OperationUpdate(
        _MOVEMENT_STATES[report.state], venue_id=report.transfer_id, message=message
    )


def _withdrawal_update(report: WithdrawalReport) -> OperationUpdate:
    return OperationUpdate(
        _MOVEMENT_STATES[report.state],
        report.withdrawal_id,
        report.tx_id,
        f"withdrawal state {report.venue_state}",
    )

"""The rebalancing moves as state machines (specs/equities.md, "Rebalancing"): the ordered steps
of each kind, which of them are irreversible (an intent with its transaction hash or request id
is stored before the request), how long each may take, and the named states a move stops in
when it fails or gets stuck, each with what the operator should do.

A move at step S has done S and everything before it; it starts at OPENED (nothing done) and
ends at COMPLETED, or stops FAILED (a definitive refusal: nothing more will happen) or STUCK
(a step overran its timeout: the outcome is unknown until someone looks). Steps go forward one
at a time; a stuck move may go on when the late answer arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pegkeeper.domain.equities.inventory import CASH_ASSET, Direction
from pegkeeper.domain.errors import ConflictError, InvalidInput, SlotTaken

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


class MoveInFlight(SlotTaken):
    """A move of the asset is active or stuck: the database refused a second one, and no
    request of it was sent."""


class InvalidTransition(ConflictError):
    """A move was asked to skip a step, go back, or change after it ended: nothing changed."""


class MoveKind(StrEnum):
    MINT = "mint"  # shares at the broker -> stock tokens in the vault
    REDEEM = "redeem"  # stock tokens in the vault -> shares at the broker
    CASH_TO_CHAIN = "cash_to_chain"  # USD at the broker -> USDC in the vault
    CASH_HOME = "cash_home"  # USDC in the vault -> USD at the broker

    @property
    def direction(self) -> Direction:
        if self in (MoveKind.MINT, MoveKind.CASH_TO_CHAIN):
            return Direction.TO_CHAIN
        return Direction.TO_BROKER

    @property
    def is_cash(self) -> bool:
        return self in (MoveKind.CASH_TO_CHAIN, MoveKind.CASH_HOME)

    @classmethod
    def of(cls, asset: str, direction: Direction) -> MoveKind:
        if asset == CASH_ASSET:
            to_chain = direction is Direction.TO_CHAIN
            return MoveKind.CASH_TO_CHAIN if to_chain else MoveKind.CASH_HOME
        return MoveKind.MINT if direction is Direction.TO_CHAIN else MoveKind.REDEEM


class MoveStep(StrEnum):
    OPENED = "opened"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    TOKENS_RECEIVED = "tokens_received"
    WRAPPED = "wrapped"
    DEPOSITED = "deposited"
    WITHDRAWN_FROM_VAULT = "withdrawn_from_vault"
    UNWRAPPED = "unwrapped"
    SENT_TO_REDEMPTION = "sent_to_redemption"
    MATCHED = "matched"
    CONVERTED = "converted"
    WITHDRAWN = "withdrawn"
    BURNED = "burned"  # the bridge's burn on the source chain
    BRIDGED = "bridged"  # the attested mint on the destination chain
    SENT_TO_BROKER = "sent_to_broker"
    RECEIVED = "received"
    COMPLETED = "completed"


class MoveStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    STUCK = "stuck"

    @property
    def is_final(self) -> bool:
        return self in (MoveStatus.COMPLETED, MoveStatus.FAILED)

    @property
    def holds_asset(self) -> bool:
        """Whether the move keeps its asset's one slot: an active move, and a stuck one
        whose amount is somewhere no one knows yet."""
        return self in (MoveStatus.ACTIVE, MoveStatus.STUCK)


class Halt(StrEnum):
    """The named states a move stops in; each is an operator alert (HALTS says what to do)."""

    MINT_REJECTED = "mint_rejected"
    REDEEM_REJECTED = "redeem_rejected"
    TX_REVERTED = "tx_reverted"
    WALLET_TRANSFER_FAILED = "wallet_transfer_failed"
    CONVERSION_FAILED = "conversion_failed"
    TX_UNCONFIRMED = "tx_unconfirmed"
    TOKENIZATION_PENDING = "tokenization_pending"
    REDEEM_UNMATCHED = "redeem_unmatched"
    ATTESTATION_MISSING = "attestation_missing"
    WALLET_TRANSFER_PENDING = "wallet_transfer_pending"
    DEPOSIT_UNSEEN = "deposit_unseen"
    CONVERSION_PENDING = "conversion_pending"


@dataclass(frozen=True, slots=True)
class HaltInfo:
    status: MoveStatus  # FAILED or STUCK
    what: str  # what happened
    action: str  # what the operator should do


_F, _S = MoveStatus.FAILED, MoveStatus.STUCK
_NEVER_AGAIN = "never request it again:"
HALTS: Mapping[Halt, HaltInfo] = {
    Halt.MINT_REJECTED: HaltInfo(
        _F,
        "the broker rejected the mint request: nothing was minted, the shares stayed there",
        "read the broker's reason on the move, fix it (asset, wallet, quantity) and approve "
        "a new proposal",
    ),
    Halt.REDEEM_REJECTED: HaltInfo(
        _F,
        "the broker rejected the redemption of tokens already in its redemption wallet",
        "the tokens are with the broker: ask its support with the transfer's hash; "
        "never send them again",
    ),
    Halt.TX_REVERTED: HaltInfo(
        _F,
        "a transaction of the move was mined and reverted: it moved nothing",
        "read the revert on the step; the amount is where the previous step left it: move "
        "it on or back by hand before opening a new move of the asset",
    ),
    Halt.WALLET_TRANSFER_FAILED: HaltInfo(
        _F,
        "the broker reported the USDC wallet transfer FAILED",
        "the USDC is back in the broker's wallet: check the address and the 51 USD minimum, "
        "then sell it to USD or propose again",
    ),
    Halt.CONVERSION_FAILED: HaltInfo(
        _F,
        "the USDCUSD order was refused (the collar), canceled or expired",
        "read the filled part on the step; size the conversion below the collar and propose again",
    ),
    Halt.TX_UNCONFIRMED: HaltInfo(
        _S,
        "a signed transaction is not confirmed past its step's timeout",
        "look the hash up on a second node; if it is pending, replace it at the same nonce "
        f"with a higher fee; {_NEVER_AGAIN} a new nonce would send it twice",
    ),
    Halt.TOKENIZATION_PENDING: HaltInfo(
        _S,
        "the broker has not completed the mint or redeem request past its timeout",
        f"look the request up at the broker by its id; {_NEVER_AGAIN} it would mint twice",
    ),
    Halt.REDEEM_UNMATCHED: HaltInfo(
        _S,
        "tokens were sent to the redemption wallet and no redeem request carries the hash",
        "ask the broker's support with the transfer's hash; never send the tokens again",
    ),
    Halt.ATTESTATION_MISSING: HaltInfo(
        _S,
        "the bridge's burn is confirmed and its attestation has not arrived",
        "fetch the attestation by the burn's hash and mint with it; never burn again: the "
        "burned USDC is owed on the other chain",
    ),
    Halt.WALLET_TRANSFER_PENDING: HaltInfo(
        _S,
        "the broker's USDC wallet transfer is not COMPLETE past its timeout",
        f"look the transfer up at the broker by its id; {_NEVER_AGAIN} it would send twice",
    ),
    Halt.DEPOSIT_UNSEEN: HaltInfo(
        _S,
        "USDC sent to the broker's deposit address is not seen as an incoming transfer",
        "check the transaction and the deposit address; ask the broker's support with the "
        "hash; never send it again",
    ),
    Halt.CONVERSION_PENDING: HaltInfo(
        _S,
        "the USDCUSD order is not filled past its timeout",
        "look the order up by its client order id and cancel it before any new conversion",
    ),
}


@dataclass(frozen=True, slots=True)
class StepSpec:
    step: MoveStep
    irreversible: bool  # an intent (tx hash or request id) is stored before its request
    records: str  # what its intent or result holds
    timeout_ms: int  # the default time it may take from the previous step on
    stuck_as: Halt  # the state the move stops in when it overruns


def _tx(step: MoveStep, what: str, minutes: int = 15) -> StepSpec:
    return StepSpec(step, True, f"tx hash, signed tx, nonce: {what}", minutes * MINUTE_MS, _TXU)


def _seen(step: MoveStep, what: str, hours: float, halt: Halt) -> StepSpec:
    return StepSpec(step, False, what, int(hours * HOUR_MS), halt)


_TXU, _TOK = Halt.TX_UNCONFIRMED, Halt.TOKENIZATION_PENDING
_S_ = MoveStep
_MINT = (
    StepSpec(_S_.REQUESTED, True, "request id: the issuer_request_id", 10 * MINUTE_MS, _TOK),
    _seen(_S_.ACCEPTED, "request id: the tokenization_request_id", 0.5, _TOK),
    _seen(_S_.TOKENS_RECEIVED, "tx hash of the mint, amount received", 4, _TOK),
    _tx(_S_.WRAPPED, "the ERC-4626 deposit; amount received: wrapped tokens"),
    _tx(_S_.DEPOSITED, "the vault deposit"),
    _seen(_S_.COMPLETED, "the vault balance checked", 0.25, _TXU),
)
_REDEEM = (
    _tx(_S_.WITHDRAWN_FROM_VAULT, "the vault withdrawal; amount received from its logs"),
    _tx(_S_.UNWRAPPED, "the ERC-4626 redeem; amount received: stock tokens"),
    _tx(_S_.SENT_TO_REDEMPTION, "the transfer to the redemption wallet"),
    _seen(_S_.MATCHED, "request id of the redeem whose tx hash matches", 4, Halt.REDEEM_UNMATCHED),
    _seen(_S_.COMPLETED, "the redeem request completed: shares at the broker", 4, _TOK),
)
_BRIDGE = (
    _tx(_S_.BURNED, "the bridge's burn (never signed twice)"),
    StepSpec(
        _S_.BRIDGED,
        True,
        "tx hash of the mint; detail: the attestation",
        HOUR_MS,
        Halt.ATTESTATION_MISSING,
    ),
)
_CONVERT = StepSpec(
    _S_.CONVERTED,
    True,
    "request id: the client order id; asked: notional USD; received: USDC, 6 dp floored",
    10 * MINUTE_MS,
    Halt.CONVERSION_PENDING,
)
_CASH_TO_CHAIN = (
    _CONVERT,
    StepSpec(
        _S_.WITHDRAWN,
        True,
        "request id: the wallet transfer id; tx hash once the broker states it",
        2 * HOUR_MS,
        Halt.WALLET_TRANSFER_PENDING,
    ),
    *_BRIDGE,
    _tx(_S_.DEPOSITED, "the vault deposit"),
    _seen(_S_.COMPLETED, "the vault balance checked", 0.25, _TXU),
)
_CASH_HOME = (
    _tx(_S_.WITHDRAWN_FROM_VAULT, "the vault withdrawal; amount received from its logs"),
    *_BRIDGE,
    _tx(_S_.SENT_TO_BROKER, "the USDC transfer to the broker's deposit address"),
    _seen(_S_.RECEIVED, "request id: the broker's incoming transfer", 2, Halt.DEPOSIT_UNSEEN),
    _CONVERT,
    _seen(_S_.COMPLETED, "the cash reading checked", 0.25, Halt.CONVERSION_PENDING),
)
_STEPS: Mapping[MoveKind, tuple[StepSpec, ...]] = {
    MoveKind.MINT: _MINT,
    MoveKind.REDEEM: _REDEEM,
    MoveKind.CASH_TO_CHAIN: _CASH_TO_CHAIN,
    MoveKind.CASH_HOME: _CASH_HOME,
}
_BRIDGE_STEPS = frozenset({_S_.BURNED, _S_.BRIDGED})
_WRAP_STEPS = frozenset({_S_.WRAPPED, _S_.UNWRAPPED})


@dataclass(frozen=True, slots=True)
class MoveRoute:
    """The optional steps a move takes: the wrapper (stock held wrapped in the vault) and
    the bridge (the orderbook's chain differs from the broker wallet's)."""

    wrapped: bool = True
    bridged: bool = False


@dataclass(frozen=True, slots=True)
class StepTimeouts:
    """Configured timeouts by step name, in ms; a step not named keeps its default."""

    by_step_ms: Mapping[MoveStep, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for step, ms in self.by_step_ms.items():
            if ms <= 0:
                raise InvalidInput(f"the timeout of step {step} must be > 0 ms, not {ms}")

    def of(self, spec: StepSpec) -> int:
        return self.by_step_ms.get(spec.step, spec.timeout_ms)


@dataclass(frozen=True, slots=True)
class MovePlan:
    """The steps of one move, in order, from OPENED to COMPLETED."""

    kind: MoveKind
    route: MoveRoute = field(default_factory=MoveRoute)

    @property
    def specs(self) -> tuple[StepSpec, ...]:
        return tuple(s for s in _STEPS[self.kind] if self._takes(s.step))

    @property
    def sequence(self) -> tuple[MoveStep, ...]:
        return (MoveStep.OPENED, *(s.step for s in self.specs))

    def spec(self, step: MoveStep) -> StepSpec:
        for spec in self.specs:
            if spec.step is step:
                return spec
        raise InvalidTransition(f"a {self._name} has no step {step.value}; {self._listed}")

    def next_step(self, current: MoveStep) -> StepSpec | None:
        """The step after `current` (None after COMPLETED)."""
        position = self._position(current)
        specs = self.specs
        return specs[position] if position < len(specs) else None

    def advance(self, status: MoveStatus, current: MoveStep, to: MoveStep) -> MoveStatus:
        """The status after going from `current` to `to`; raises InvalidTransition unless
        `to` is the very next step of a move that has not ended."""
        if status.is_final:
            raise InvalidTransition(
                f"the {self._name} is {status.value}: it cannot go to {to.value}"
            )
        following = self.next_step(current)
        target = self._position(to)
        if following is None or to is not following.step:
            done = self._position(current)
            if target == done:
                raise InvalidTransition(f"the {self._name} is at {to.value} already")
            if target < done:
                raise InvalidTransition(
                    f"the {self._name} is at {current.value}: going back to {to.value} is refused"
                )
            assert following is not None  # a step after `current` exists: `to` is one
            raise InvalidTransition(
                f"the {self._name} is at {current.value}: the next step is "
                f"{following.step.value}, {to.value} would skip it"
            )
        return MoveStatus.COMPLETED if to is MoveStep.COMPLETED else MoveStatus.ACTIVE

    @property
    def _name(self) -> str:
        return self.kind.value.replace("_", " ")

    @property
    def _listed(self) -> str:
        return "its steps are " + ", ".join(s.value for s in self.sequence)

    def _position(self, step: MoveStep) -> int:
        try:
            return self.sequence.index(step)
        except ValueError:
            raise InvalidTransition(
                f"a {self._name} has no step {step.value}; {self._listed}"
            ) from None

    def _takes(self, step: MoveStep) -> bool:
        if step in _BRIDGE_STEPS:
            return self.route.bridged
        if step in _WRAP_STEPS:
            return self.route.wrapped
        return True


def check_halt(status: MoveStatus, halt: Halt) -> MoveStatus:
    """The status a move takes when it stops in `halt`; raises InvalidTransition when the
    move has ended already (a stuck move may be declared failed, or stuck again)."""
    if status.is_final:
        raise InvalidTransition(f"the move is {status.value}: it cannot stop in {halt.value}")
    return HALTS[halt].status


def overdue(
    plan: MovePlan, current: MoveStep, step_at_ms: int, now_ms: int, timeouts: StepTimeouts
) -> StepSpec | None:
    """The next step when it has overrun its timeout since `step_at_ms` (the time `current`
    was reached); None when it still has time or the move is at its end."""
    following = plan.next_step(current)
    if following is None or now_ms - step_at_ms <= timeouts.of(following):
        return None
    return following


@dataclass(frozen=True, slots=True)
class ExecutionSwitches:
    """Whether pegkeeper executes moves by itself: only where enabled globally and for the
    asset; everything else waits for an operator's approval. Off unless turned on."""

    enabled_globally: bool = False
    by_asset: Mapping[str, bool] = field(default_factory=dict)

    def allows(self, asset: str) -> bool:
        return self.enabled_globally and self.by_asset.get(asset, False)

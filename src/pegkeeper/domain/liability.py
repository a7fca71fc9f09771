"""The dealer's liability: an append-only ledger of signed changes in USD cents."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pegkeeper.domain.errors import ConflictError, InvalidInput

EVENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")


@dataclass(frozen=True, slots=True)
class LiabilityChange:
    """A requested change, validated; not yet applied."""

    event_id: str
    delta_cents: int
    memo: str
    source: str


@dataclass(frozen=True, slots=True)
class LiabilityEvent:
    """A change as recorded: its position in the ledger and the balance after it."""

    seq: int
    event_id: str
    delta_cents: int
    balance_after_cents: int
    memo: str
    source: str
    correlation_id: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A validated change with what the ledger stamps on it, ready to append."""

    change: LiabilityChange
    correlation_id: str
    now_ms: int


def validate_change(
    event_id: object, delta_cents: object, memo: object, source: str, max_abs_delta_cents: int
) -> LiabilityChange:
    if not isinstance(event_id, str) or not EVENT_ID_PATTERN.match(event_id):
        raise InvalidInput(
            "id must be a string of 1 to 128 characters: letters, digits and _ . : - "
            f"(starting with a letter or digit), got {event_id!r}"
        )
    if isinstance(delta_cents, bool) or not isinstance(delta_cents, int):
        raise InvalidInput(f"delta_cents must be an integer number of cents, got {delta_cents!r}")
    if delta_cents == 0:
        raise InvalidInput("delta_cents must not be 0")
    if abs(delta_cents) > max_abs_delta_cents:
        raise InvalidInput(
            f"delta_cents {delta_cents} is beyond the configured maximum of "
            f"±{max_abs_delta_cents} cents (liability.max_abs_delta_cents)"
        )
    if not isinstance(memo, str) or len(memo) > 500:
        raise InvalidInput("memo must be a string of at most 500 characters")
    return LiabilityChange(event_id=event_id, delta_cents=delta_cents, memo=memo, source=source)


def apply_change(balance_cents: int, change: LiabilityChange) -> int:
    after = balance_cents + change.delta_cents
    if after < 0:
        raise ConflictError(
            f"liability would go negative: {balance_cents} + ({change.delta_cents}) = {after} "
            "cents; a liability is what the dealer owes and cannot be below 0"
        )
    return after


def next_event(
    last: LiabilityEvent | None, existing: LiabilityEvent | None, entry: LedgerEntry
) -> tuple[LiabilityEvent, bool]:
    """The ledger's one rule for an append, whatever stores it: the same event id again is the
    stored event when the amount is the same, and a conflict when it is not; a new change takes
    the next seq and a balance that never goes below 0. Returns (event, whether it is new)."""
    change = entry.change
    if existing is not None:
        if existing.delta_cents != change.delta_cents:
            raise ConflictError(
                f"liability event {change.event_id!r} was already posted with another amount: "
                f"delta_cents {existing.delta_cents} there, {change.delta_cents} in this request"
            )
        return existing, False
    balance = last.balance_after_cents if last is not None else 0
    event = LiabilityEvent(
        seq=last.seq + 1 if last is not None else 1,
        event_id=change.event_id,
        delta_cents=change.delta_cents,
        balance_after_cents=apply_change(balance, change),
        memo=change.memo,
        source=change.source,
        correlation_id=entry.correlation_id,
        created_at_ms=entry.now_ms,
    )
    return event, True

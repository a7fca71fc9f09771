"""What an operator may do by hand, and how the audit trail records it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pegkeeper.domain.errors import InvalidInput

ALERT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
MAX_NOTE_CHARS = 500


class OperatorActionKind(StrEnum):
    PAUSE_HEDGING = "hedging.pause"
    RESUME_HEDGING = "hedging.resume"
    CLOSE_POSITION = "position.close"
    ACKNOWLEDGE_ALERT = "alert.acknowledge"
    PAUSE_EQUITIES = "equities.pause"  # one symbol, or every one (target "all")
    RESUME_EQUITIES = "equities.resume"
    # inventory rebalancing: a proposal approved or dismissed (target: the proposal id), the
    # execution switch of an asset or of every one (target: the asset, or "all")
    APPROVE_REBALANCE = "equities.rebalancing.approve"
    DISMISS_REBALANCE = "equities.rebalancing.dismiss"
    SET_REBALANCE_EXECUTION = "equities.rebalancing.execution"
    # a deposit held by the funding manager, settled as sent or not (target: the operation id)
    SETTLE_DEPOSIT = "funding.deposit.settle"

    @property
    def leaves_hedging_paused(self) -> bool:
        """A close stops the hedger too: it would otherwise open the short again at once."""
        return self in (OperatorActionKind.PAUSE_HEDGING, OperatorActionKind.CLOSE_POSITION)

    @property
    def sets_hedging_state(self) -> bool:
        """The dealer's hedging switch (the equity hedger keeps switches of its own)."""
        return self in (
            OperatorActionKind.PAUSE_HEDGING,
            OperatorActionKind.RESUME_HEDGING,
            OperatorActionKind.CLOSE_POSITION,
        )


class OperatorResult(StrEnum):
    DONE = "done"  # the action took effect
    UNCHANGED = "unchanged"  # nothing to do (already paused, no position to close)
    FAILED = "failed"  # refused by the state of things or by the venue; the detail says why
    UNCERTAIN = "uncertain"  # the venue's answer is unknown; the hedger looks the order up
    RECORDED = "recorded"  # an acknowledgement: written down
    # to be executed by the process that holds the hedger's lease (processes sharing a store)
    REQUESTED = "requested"


@dataclass(frozen=True, slots=True)
class OperatorAction:
    action_id: str
    created_at_ms: int
    operator: str  # the name the token belongs to
    action: OperatorActionKind
    target: str  # the instrument, the alert id
    note: str  # the operator's reason, as typed
    result: OperatorResult
    detail: str  # what happened, in words
    correlation_id: str  # ties a close to its decision, order and fills
    client_address: str  # where the request came from


def validate_alert_id(value: object) -> str:
    if not isinstance(value, str) or not ALERT_ID_PATTERN.match(value):
        raise InvalidInput(
            "alert id must be 1 to 128 letters, digits or _.:- starting with a letter or digit"
        )
    return value


def validate_note(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"note must be text, got {type(value).__name__}")
    if len(value) > MAX_NOTE_CHARS:
        raise InvalidInput(f"note must be at most {MAX_NOTE_CHARS} characters, got {len(value)}")
    return value.strip()

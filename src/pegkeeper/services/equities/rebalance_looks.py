"""What one look at a move's step finds: done (with what the step got and what it cost), still
waiting, or halted in a named state."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.equities.move_records import CostKind
from pegkeeper.domain.equities.moves import Halt


@dataclass(frozen=True, slots=True)
class StepCost:
    kind: CostKind
    amount_usd: Decimal
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Done:
    amount_received: Decimal | None = None
    request_id: str | None = None
    tx_hash: str | None = None
    detail: str | None = None
    costs: tuple[StepCost, ...] = ()


@dataclass(frozen=True, slots=True)
class Wait:
    why: str


@dataclass(frozen=True, slots=True)
class Halted:
    halt: Halt
    why: str
    costs: tuple[StepCost, ...] = ()  # what the step spent all the same (a revert's gas)


StepLook = Done | Wait | Halted

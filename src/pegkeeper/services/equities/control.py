"""The equity hedger's switches: one for every symbol at once and one per symbol. A paused
symbol keeps its exposure and its order in flight (still resolved), but no new order is sent.

Each switch is an operator action in the audit trail (target "all" for every symbol, the
symbol for one), so that after a restart every switch stays as operators left it. Where the
caller writes the audit trail itself (with the request's address), the control is built with
`records_actions=False` and only moves the switch; `load` restores either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.operator import (
    OperatorAction,
    OperatorActionKind,
    OperatorResult,
    validate_note,
)
from pegkeeper.ports import Clock, OperatorActionRepository
from pegkeeper.services.ids import new_correlation_id

log = structlog.get_logger("pegkeeper.equities.control")

GLOBAL_TARGET = "all"  # the audit target of an action on every symbol
_TARGETS_PER_READ = 400  # below the repository's bound on targets per query
_KINDS = (OperatorActionKind.PAUSE_EQUITIES, OperatorActionKind.RESUME_EQUITIES)


def target_of(symbol: str | None) -> str:
    return GLOBAL_TARGET if symbol is None else symbol


@dataclass(frozen=True, slots=True)
class Switch:
    paused: bool = False
    by: str = ""  # the operator who last paused or resumed, "" when never touched
    since_ms: int = 0
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"paused": self.paused, "by": self.by, "since_ms": self.since_ms, "note": self.note}


class EquityControl:
    def __init__(
        self,
        actions: OperatorActionRepository,
        clock: Clock,
        symbols: Sequence[str],
        *,
        records_actions: bool = True,
    ) -> None:
        if GLOBAL_TARGET in symbols:
            raise InvalidInput(f"{GLOBAL_TARGET!r} names every symbol; it cannot be one")
        self._actions = actions
        self._records = records_actions
        self._clock = clock
        self._symbols = tuple(symbols)
        self._global = Switch()
        self._by_symbol: dict[str, Switch] = {s: Switch() for s in self._symbols}
        self._listeners: list[Callable[[str], None]] = []
        self._last_ms = 0
        self._loaded = False

    def on_change(self, listener: Callable[[str], None]) -> None:
        """`listener` is told (with the target) of every switch an operator moves."""
        self._listeners.append(listener)

    @property
    def loaded(self) -> bool:
        return self._loaded

    async def load(self) -> None:
        """Restores the switches from the operator actions store, as operators left them."""
        self._loaded = True
        targets = [target_of(None), *(target_of(s) for s in self._symbols)]
        found: list[OperatorAction] = []
        for start in range(0, len(targets), _TARGETS_PER_READ):
            chunk = targets[start : start + _TARGETS_PER_READ]
            for kind in _KINDS:
                found.extend(await self._actions.on_targets(kind, chunk))
        # oldest first; `_stamp` keeps one target's actions in distinct milliseconds
        for action in sorted(found, key=lambda a: a.created_at_ms):
            self._last_ms = max(self._last_ms, action.created_at_ms)
            if action.result is OperatorResult.DONE:
                self._apply(action)
        paused = [t for t, s in self._switches() if s.paused]
        if paused:
            log.warning("equity hedging is paused, as operators left it", targets=paused)

    def paused(self, symbol: str) -> bool:
        """Whether no new order may be sent for `symbol` (all symbols or this one paused)."""
        return self._global.paused or self._by_symbol.get(symbol, Switch()).paused

    def state(self) -> dict[str, Any]:
        return {
            "global": self._global.as_dict(),
            "symbols": {s: w.as_dict() for s, w in self._by_symbol.items()},
        }

    async def pause(self, symbol: str | None, by: str, note: str = "") -> None:
        await self._switch(OperatorActionKind.PAUSE_EQUITIES, symbol, by, note)

    async def resume(self, symbol: str | None, by: str, note: str = "") -> None:
        await self._switch(OperatorActionKind.RESUME_EQUITIES, symbol, by, note)

    async def _switch(
        self, kind: OperatorActionKind, symbol: str | None, by: str, note: str
    ) -> None:
        text = validate_note(note)
        if not by:
            raise InvalidInput("the operator's name is required to pause or resume hedging")
        current = self._switch_of(symbol)
        pausing = kind is OperatorActionKind.PAUSE_EQUITIES
        scope = "every symbol" if symbol is None else symbol
        if current.paused == pausing:
            result = OperatorResult.UNCHANGED
            detail = f"{scope} already {'paused' if pausing else 'not paused'}"
        else:
            result = OperatorResult.DONE
            detail = f"{scope} {'paused: no new order is sent' if pausing else 'resumed'}"
        action = OperatorAction(
            action_id=new_correlation_id(),
            created_at_ms=self._stamp(),
            operator=by,
            action=kind,
            target=target_of(symbol),
            note=text,
            result=result,
            detail=detail,
            correlation_id=new_correlation_id(),
            client_address="",
        )
        if self._records:
            await self._actions.record(action)
        if result is OperatorResult.DONE:
            self._apply(action)
            log.warning(detail, by=by, note=text)
            for listener in self._listeners:
                listener(action.target)

    def _switch_of(self, symbol: str | None) -> Switch:
        if symbol is None:
            return self._global
        if symbol not in self._by_symbol:
            known = ", ".join(self._symbols) or "none configured"
            raise InvalidInput(f"unknown equity symbol {symbol!r}: expected one of {known}")
        return self._by_symbol[symbol]

    def _apply(self, action: OperatorAction) -> None:
        switch = Switch(
            action.action is OperatorActionKind.PAUSE_EQUITIES,
            action.operator,
            action.created_at_ms,
            action.note,
        )
        if action.target == GLOBAL_TARGET:
            self._global = switch
            return
        if action.target in self._by_symbol:  # a symbol no longer configured is left out
            self._by_symbol[action.target] = switch

    def _stamp(self) -> int:
        """Now, but after every action already recorded here: actions are restored in the
        order of their times, so two in one millisecond must not swap."""
        self._last_ms = max(self._clock.now_ms(), self._last_ms + 1)
        return self._last_ms

    def _switches(self) -> list[tuple[str, Switch]]:
        return [
            (GLOBAL_TARGET, self._global),
            *((target_of(s), w) for s, w in self._by_symbol.items()),
        ]

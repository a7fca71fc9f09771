"""The ledger gate: the hedger waits while the ledger is half-imported or its source is down."""

from decimal import Decimal

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.ledger_sync import (
    Backlog,
    GateSettings,
    LedgerReadiness,
    SourceState,
    assess,
)
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.gate import LedgerGate
from pegkeeper.services.ledger.liability import LiabilityService
from tests.fakes import FakeStore, FakeVenue

NOW = 1_700_000_000_000
SETTINGS = GateSettings(half_imported_threshold=2, stale_after_ms=300_000)
FRESH = SourceState("galoy", cursor="c9", last_poll_ms=NOW - 5_000, updated_at_ms=NOW - 5_000)


def test_the_http_source_is_always_ready() -> None:
    readiness = assess("http", None, Backlog(), NOW, SETTINGS)
    assert readiness.ready and readiness.reason == ""


@pytest.mark.parametrize(
    ("backlog", "ready"),
    [
        (Backlog(unpaired=0, unposted=0), True),
        (Backlog(unpaired=1, unposted=0), True),  # one trade in flight is tolerated
        (Backlog(unpaired=0, unposted=1, rejected=5), True),  # rejected ones are not waited for
        (Backlog(unpaired=1, unposted=1), False),
        (Backlog(unpaired=2, unposted=0), False),
        (Backlog(unpaired=0, unposted=2), False),
    ],
)
def test_two_or_more_unpaired_or_unposted_trades_close_the_gate(
    backlog: Backlog, ready: bool
) -> None:
    readiness = assess("galoy", FRESH, backlog, NOW, SETTINGS)
    assert readiness.ready is ready
    if not ready:
        assert readiness.reason == (
            f"the galoy ledger is half-imported: {backlog.unpaired} transaction(s) without "
            f"their other leg and {backlog.unposted} trade(s) not yet posted; trading waits "
            "while there are 2 or more"
        )


def test_the_threshold_is_configurable() -> None:
    strict = GateSettings(half_imported_threshold=1, stale_after_ms=300_000)
    assert not assess("galoy", FRESH, Backlog(unpaired=1), NOW, strict).ready
    lenient = GateSettings(half_imported_threshold=5, stale_after_ms=300_000)
    assert assess("galoy", FRESH, Backlog(unpaired=2, unposted=2), NOW, lenient).ready


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (None, "the galoy ledger has not been read yet"),
        (
            SourceState("galoy", last_error="Galoy at u answered HTTP 502"),
            "the galoy ledger has not been read yet (last error: Galoy at u answered HTTP 502)",
        ),
        (
            SourceState("galoy", last_poll_ms=NOW, stopped=True, last_error="login refused"),
            "the galoy ledger source stopped: login refused",
        ),
        (
            SourceState("galoy", last_poll_ms=NOW, has_more=True),
            "the galoy ledger is being imported: newer pages are waiting",
        ),
        (
            SourceState("galoy", last_poll_ms=NOW - 301_000, last_error="timeout"),
            "the galoy ledger was last read 301 s ago, longer than 300 s (last error: timeout)",
        ),
    ],
)
def test_a_source_not_read_stopped_importing_or_stale_closes_the_gate(
    state: SourceState | None, reason: str
) -> None:
    readiness = assess("galoy", state, Backlog(), NOW, SETTINGS)
    assert not readiness.ready and readiness.reason == reason


class StateStub:
    def __init__(self, state: SourceState | None) -> None:
        self.state = state

    async def get(self, source: str) -> SourceState | None:
        return self.state


class BacklogStub:
    def __init__(self) -> None:
        self.asked_since: list[int] = []

    async def backlog(self, unpaired_since_ms: int) -> Backlog:
        self.asked_since.append(unpaired_since_ms)
        return Backlog(unpaired=2)


async def test_the_gate_counts_unpaired_transactions_of_the_window_only() -> None:
    backlog = BacklogStub()
    gate = LedgerGate(
        "galoy",
        ManualClock(NOW),
        SETTINGS,
        state=StateStub(FRESH),  # type: ignore[arg-type]
        backlog=backlog,
        unpaired_window_seconds=600,
    )
    readiness = await gate.readiness()
    assert not readiness.ready and readiness.backlog == Backlog(unpaired=2)
    assert backlog.asked_since == [NOW - 600_000]
    with pytest.raises(ValueError, match="needs the sources' state"):
        LedgerGate("galoy", ManualClock(NOW), SETTINGS)


class SwitchGate:
    def __init__(self) -> None:
        self.readiness_now = LedgerReadiness("galoy", False, "the galoy ledger is half-imported")

    async def readiness(self) -> LedgerReadiness:
        return self.readiness_now


async def test_the_hedger_sends_nothing_while_the_gate_is_closed() -> None:
    store, venue, bus, clock = FakeStore(), FakeVenue(), MemoryBus(), ManualClock(NOW)
    gate = SwitchGate()
    hedger = HedgerService(
        store,
        venue,
        bus,
        clock,
        StablesatsHedgePolicy(),
        HedgerSettings(order_lookup_window_seconds=10, recheck_open_order_seconds=1),
        gate=gate,
    )
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**9)
    await liability.post("t1", 1_000_000)
    assert await hedger.cycle("liability", "c1") is None
    assert venue.sent == [] and store.hedge.decisions == []
    assert hedger.waiting_for == "the galoy ledger is half-imported"

    gate.readiness_now = LedgerReadiness("galoy", True, "")
    record = await hedger.cycle("periodic", "c2")
    # 10 000 USD owed: sell round(0.98 * 1 000 000 / 10 000) = 98 contracts
    assert record is not None and record.action == "sell" and record.size_contracts == 98
    assert venue.size_contracts == Decimal(-98) and hedger.waiting_for == ""

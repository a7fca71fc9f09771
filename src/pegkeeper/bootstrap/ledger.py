"""The liability's source from `[ledger]`: the HTTP API, a Galoy dealer account, a SQL query."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.ledger.galoy import GaloyClient
from pegkeeper.adapters.ledger.postgres import LiabilityQueryConfigError, SqlLiabilityQuery
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.config import Settings
from pegkeeper.domain.ledger_sync import GateSettings
from pegkeeper.services.ledger.galoy_poller import GaloyPoller, GaloyPollerSettings
from pegkeeper.services.ledger.gate import LedgerGate
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.ledger.liability_snapshot import (
    LiabilitySnapshotPoller,
    SnapshotPollerSettings,
)


class LedgerMisconfigured(Exception):
    """The ledger source's configuration cannot be used; the message says what to change."""


@dataclass
class LedgerSetup:
    source: str
    description: str
    gate: LedgerGate
    run: Callable[[], Awaitable[None]] | None = None  # the poller; None: nothing to poll
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def build_ledger(settings: Settings, store: SqlStore, liability: LiabilityService) -> LedgerSetup:
    """Raises LedgerMisconfigured. A wallet's ledger lives in real time, whatever clock the
    simulated venue keeps, so the sources and the gate run on the real clock."""
    ledger = settings.ledger
    clock = RealClock()
    gate_settings = GateSettings(
        half_imported_threshold=ledger.half_imported_threshold,
        stale_after_ms=int(ledger.stale_after_seconds * 1000),
        failed_polls_not_ready=ledger.failed_polls_not_ready,
    )
    if ledger.source == "galoy":
        g = ledger.galoy
        client = GaloyClient(
            g.api_url,
            g.phone,
            g.code.get_secret_value(),
            api_key=g.api_key.get_secret_value(),
            timeout_seconds=g.request_timeout_seconds,
        )
        poller = GaloyPoller(
            client,
            store.galoy,
            store.ledger_state,
            liability,
            clock,
            GaloyPollerSettings(
                poll_interval_seconds=g.poll_interval_seconds,
                page_size=g.page_size,
                recheck_interval_seconds=g.recheck_interval_seconds,
                max_backoff_seconds=ledger.max_backoff_seconds,
            ),
        )
        gate = LedgerGate(
            "galoy",
            clock,
            gate_settings,
            state=store.ledger_state,
            backlog=store.galoy,
            unpaired_window_seconds=g.unpaired_window_seconds,
        )
        return LedgerSetup(
            "galoy", f"Galoy dealer account at {g.api_url}", gate, poller.run, [client.close]
        )
    if ledger.source == "postgres":
        p = ledger.postgres
        try:
            query = SqlLiabilityQuery(
                p.dsn.get_secret_value(), p.query, timeout_seconds=p.timeout_seconds
            )
        except LiabilityQueryConfigError as error:
            raise LedgerMisconfigured(str(error)) from None
        snapshots = LiabilitySnapshotPoller(
            query,
            liability,
            store.ledger_state,
            clock,
            SnapshotPollerSettings(
                source="postgres",
                poll_interval_seconds=p.poll_interval_seconds,
                max_backoff_seconds=ledger.max_backoff_seconds,
            ),
        )
        gate = LedgerGate("postgres", clock, gate_settings, state=store.ledger_state)
        return LedgerSetup(
            "postgres", f"the liability query on {query.where}", gate, snapshots.run, [query.close]
        )
    gate = LedgerGate("http", clock, gate_settings)
    return LedgerSetup("http", "POST /api/v1/liability/events", gate)

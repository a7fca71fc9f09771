"""What a process of a cluster needs beyond its services: its name, the leases of the
singletons it runs, and, on SQLite, the guarantee that it is the only process on its database.

On PostgreSQL any number of processes may share the database, so every singleton (a hedger
leg, funding, the ledger poller, the equity hedger, the demo flow, the outbox relay, the peg
monitor's recorder) runs under a lease: one process acts, the others wait as standbys. On
SQLite one process has the database to itself; a second is refused at start.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.config import Settings
from pegkeeper.domain.leases import LeaseState, LeaseStatus
from pegkeeper.domain.venue import PRIMARY_VENUE
from pegkeeper.ports import Bus
from pegkeeper.services.lease_keeper import LeaseKeeper
from pegkeeper.services.outbox import Outbox
from pegkeeper.services.outbox_relay import OutboxRelay

SQLITE_PREFIX = "sqlite"
HOLDER_NAME_CHARS = 56  # and ":" and 6 hex digits: within the 64 of the stores' columns


class DatabaseInUse(Exception):
    """A second process on one SQLite database; the message says what to use instead."""


def is_shared_store(settings: Settings) -> bool:
    """Whether several processes may share the store (and singletons need leases)."""
    return not settings.database_url.startswith(SQLITE_PREFIX)


def hedger_lease(instrument_id: str) -> str:
    return f"hedger:{instrument_id}"


def funding_lease(currency: str, venue: str = PRIMARY_VENUE) -> str:
    """The primary venue's account keeps the name it had before there were others."""
    return f"funding:{currency}" if venue == PRIMARY_VENUE else f"funding:{venue}:{currency}"


def process_name(settings: Settings) -> str:
    return settings.cluster.process_name or f"{socket.gethostname()}-{os.getpid()}"


def process_holder(settings: Settings) -> str:
    """This process's name in the leases and the cluster's health: unique per start."""
    return f"{process_name(settings)[:HOLDER_NAME_CHARS]}:{secrets.token_hex(3)}"


@dataclass
class Cluster:
    holder: str
    store: SqlStore | None  # None: no leases (one process on SQLite)
    lease_ttl_seconds: float
    keepers: dict[str, LeaseKeeper] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings, store: SqlStore) -> Cluster:
        shared = is_shared_store(settings)
        return cls(
            process_holder(settings), store if shared else None, settings.cluster.lease_ttl_seconds
        )

    def singleton(self, name: str, service: Callable[[], Awaitable[object]]) -> Awaitable[object]:
        """`service()` now (one process alone), or under the lease `name`: run while this
        process holds it, waited for as a standby otherwise."""
        if self.store is None:
            return service()
        keeper = LeaseKeeper(
            self.store.leases, name, self.holder, self.lease_ttl_seconds, RealClock()
        )
        self.keepers[name] = keeper
        return keeper.run(service)

    def outbox(self) -> Outbox | None:
        """Where processes share the store, money events go through its outbox (written with
        the state they announce, relayed by `relay_job` if a publish is missed)."""
        return None if self.store is None else Outbox(self.store.outbox, RealClock())

    def relay_job(self, bus: Bus) -> Awaitable[object] | None:
        outbox = self.outbox()
        if outbox is None or self.store is None:
            return None
        return self.singleton("outbox-relay", OutboxRelay(self.store, outbox, bus).run)

    def standby(self, name: str) -> bool:
        keeper = self.keepers.get(name)
        return keeper is not None and keeper.state is not LeaseState.HELD

    def leases(self) -> list[LeaseStatus]:
        return [keeper.status() for keeper in self.keepers.values()]


def claim_sqlite(settings: Settings) -> IO[str] | None:
    """On SQLite: an exclusive lock on a file beside the database, held while the process runs
    (the system drops it when the process ends, however it ends). Raises DatabaseInUse when
    another process holds it."""
    if is_shared_store(settings):
        return None
    location = settings.database_url.partition(":///")[2]
    if not location or location == ":memory:":
        return None  # a database in memory is the process's own
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(path.with_name(path.name + ".lock"), "a+")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        other = lock.read().strip() or "another process"
        lock.close()
        raise DatabaseInUse(
            f"the SQLite database {path} is in use by pegkeeper process {other}; several "
            "processes need PostgreSQL: set [store] database_url "
            "(PEGKEEPER_STORE__DATABASE_URL) to a postgresql+asyncpg:// URL"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock

"""What a start finds in the store: the last time it holds, and where a simulated clock goes on
from, so that a restarted demo never sees stored times in its future."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from sqlalchemy.engine import make_url

from pegkeeper.adapters.store.database import open_store
from pegkeeper.adapters.store.resume import last_stored_ms
from pegkeeper.bootstrap.process import StoreUnavailable
from pegkeeper.bootstrap.venue import is_real_venue, simulated_start_ms
from pegkeeper.config import Settings
from pegkeeper.sim.price_path import PriceTick

log = structlog.get_logger("pegkeeper")


@dataclass(frozen=True, slots=True)
class StoredState:
    database: str  # the URL without its password
    last_stored_ms: int | None  # None: nothing stored (a new or reset data directory)
    resume_ms: int | None  # where the simulated clock starts; None: at the price path's start

    def describe(self) -> str:
        """One line for the banner."""
        if self.last_stored_ms is None:
            return f"new: nothing stored in {self.database} (a new or reset data directory)"
        line = f"resumed from {self.database}, last stored at {_utc(self.last_stored_ms)}"
        if self.resume_ms is not None:
            line += f"; the simulated clock goes on from {_utc(self.resume_ms)}"
        return line


async def read_stored_state(settings: Settings, ticks: list[PriceTick]) -> StoredState:
    """Brings the schema to the newest revision and reads the last stored time."""
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        store = await open_store(settings.database_url, migrate=True)
    except Exception as error:  # a driver's own errors: asyncpg, sqlite3, OSError
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StoreUnavailable(
            f"cannot open the database {database}: {reason}; create it, or set [store] "
            "database_url (PEGKEEPER_STORE__DATABASE_URL)"
        ) from None
    try:
        last_ms = await last_stored_ms(store)
    finally:
        await store.close()
    simulated = not is_real_venue(settings)
    resume_ms = simulated_start_ms(ticks, last_ms) if simulated else None
    state = StoredState(database, last_ms, resume_ms)
    if last_ms is None:
        log.info("no stored state: starting anew", database=database)
    else:
        resumed_at = _utc(resume_ms) if resume_ms is not None else None
        log.info(
            "state resumed", database=database, last_stored=_utc(last_ms), clock_from=resumed_at
        )
    return state


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

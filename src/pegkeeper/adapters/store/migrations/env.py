"""Alembic's environment for pegkeeper's store.

`pegkeeper.adapters.store.database.run_migrations` hands in an open connection through
`config.attributes["connection"]`, inside a transaction it commits. From the command line,
`alembic -c src/pegkeeper/adapters/store/migrations/alembic.ini upgrade head` reads the
database URL from `-x url=...` or PEGKEEPER_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from pegkeeper.adapters.store import (  # noqa: F401 (their tables join `metadata`)
    allocation_tables,
    equity_tables,
    lease_tables,
    ledger_tables,
    outbox_tables,
    process_tables,
    rebalance_tables,
    token_tables,
)
from pegkeeper.adapters.store.database import (
    create_engine,
    migration_transaction,
    normalize_url,
)
from pegkeeper.adapters.store.tables import metadata


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


def _database_url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("PEGKEEPER_DATABASE_URL")
        or context.config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set PEGKEEPER_DATABASE_URL")
    return url


async def _migrate_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with migration_transaction(engine) as conn:
            await conn.run_sync(_migrate)
    finally:
        await engine.dispose()


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    if context.config.config_file_name is not None:
        fileConfig(context.config.config_file_name, disable_existing_loggers=False)
    url = _database_url()
    if context.is_offline_mode():
        context.configure(url=normalize_url(url), target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_migrate_url(url))


_run()

"""`make cluster`'s first step: the cluster's PostgreSQL database created if missing and
migrated, before its processes start (they would migrate it too, one at a time)."""

from __future__ import annotations

import asyncio
import os

import asyncpg

from pegkeeper.adapters.store.database import open_store
from pegkeeper.config import load_settings


async def main() -> None:
    settings = load_settings(os.environ.get("PEGKEEPER_CONFIG", "deploy/cluster/pegkeeper.toml"))
    url = settings.database_url
    server, _, name = url.replace("+asyncpg", "").rpartition("/")
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        found = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not found:
            await admin.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")
    finally:
        await admin.close()
    store = await open_store(url, migrate=True)
    await store.close()
    print(f"database {name} at head")


if __name__ == "__main__":
    asyncio.run(main())

"""The outbox (migration 0015), beside `tables.py`: money events written in the transaction of
the state they announce, marked once relayed to the bus, deleted after the retention.

The partial index holds only the rows not relayed yet, so the relay's "oldest unpublished" read
stays cheap however many published rows the retention keeps.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, String, Table, text

from pegkeeper.adapters.store.tables import ID, metadata
from pegkeeper.adapters.store.types import RowId

UNPUBLISHED = text("published_at_ms IS NULL")

outbox = Table(
    "outbox",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("topic", String(ID), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("published_at_ms", BigInteger, nullable=True),
    Index(
        "ix_outbox_unpublished_id",
        "id",
        sqlite_where=UNPUBLISHED,
        postgresql_where=UNPUBLISHED,
    ),
    Index(None, "published_at_ms"),
)

OUTBOX_TABLES = (outbox,)

"""The process registry (migration 0016), beside `tables.py`: one row per running process,
updated in place at each of its beats on the database's clock."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Integer, String, Table, Text

from pegkeeper.adapters.store.tables import NAME, metadata

HOST = 255  # a DNS name

processes = Table(
    "processes",
    metadata,
    Column("process_id", String(NAME), primary_key=True),
    Column("name", String(NAME), nullable=False),
    Column("host", String(HOST), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("services", Text, nullable=False),  # a JSON array of service names
    Column("ops_url", String(HOST), nullable=False),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("seen_at_ms", BigInteger, nullable=False),
    CheckConstraint("seen_at_ms >= started_at_ms", name="seen_after_start"),
    Index("ix_processes_seen_at_ms", "seen_at_ms"),
)

PROCESS_TABLES = (processes,)

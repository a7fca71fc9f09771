"""Leases of the singleton services (migration 0014), beside `tables.py`: one row per lease,
updated in place by conditional statements on the database's clock."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, String, Table

from pegkeeper.adapters.store.tables import NAME, metadata

leases = Table(
    "leases",
    metadata,
    Column("name", String(NAME), primary_key=True),
    Column("holder", String(NAME), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    CheckConstraint("epoch >= 1", name="epoch_positive"),
)

LEASE_TABLES = (leases,)

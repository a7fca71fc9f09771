"""The carry allocation's tables (migration 0019), beside `tables.py` and under its rules,
except for one row per leg that holds the weights in force: they are replaced together, at a
new version, by the transaction that appends the decision changing them. The decisions are
the trail, appended once each; the partial unique index on `version` over the decisions that
changed the weights makes the database refuse two changes to the same version.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    String,
    Table,
    Text,
    text,
)

from pegkeeper.adapters.store.tables import ID, NAME, metadata
from pegkeeper.adapters.store.types import ExactDecimal, RowId

CHANGED = text("changed")

allocation_weights = Table(
    "allocation_weights",
    metadata,
    Column("leg", String(NAME), primary_key=True),  # the configured instrument
    Column("weight", ExactDecimal, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("decision_id", String(ID), nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    CheckConstraint("version >= 1", name="version_positive"),
)

carry_decisions = Table(
    "carry_decisions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("decision_id", String(ID), nullable=False, unique=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("rule", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("changed", Boolean, nullable=False),
    Column("move_from", String(ID), nullable=True),
    Column("move_to", String(ID), nullable=True),
    Column("move_share", ExactDecimal, nullable=True),
    Column("gain_bps", ExactDecimal, nullable=True),
    Column("cost_bps", ExactDecimal, nullable=True),
    Column("legs", Text, nullable=False),  # a JSON array: what was seen on each leg
    CheckConstraint("version >= 0", name="version_not_negative"),
    Index(
        "uq_carry_decisions_one_change_per_version",
        "version",
        unique=True,
        sqlite_where=CHANGED,
        postgresql_where=CHANGED,
    ),
    Index(None, "created_at_ms"),
)

ALLOCATION_TABLES = (allocation_weights, carry_decisions)

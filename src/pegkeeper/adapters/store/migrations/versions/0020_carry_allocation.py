"""The carry allocation: the legs' weights in force with their version, and every decision.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-11
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import ExactDecimal, RowId

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANGED = sa.text("changed")


def upgrade() -> None:
    op.create_table(
        "allocation_weights",
        sa.Column("leg", sa.String(64), nullable=False),
        sa.Column("weight", ExactDecimal(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("leg", name=op.f("pk_allocation_weights")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_allocation_weights_version_positive")),
    )
    op.create_table(
        "carry_decisions",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("move_from", sa.String(128), nullable=True),
        sa.Column("move_to", sa.String(128), nullable=True),
        sa.Column("move_share", ExactDecimal(), nullable=True),
        sa.Column("gain_bps", ExactDecimal(), nullable=True),
        sa.Column("cost_bps", ExactDecimal(), nullable=True),
        sa.Column("legs", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carry_decisions")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_carry_decisions_decision_id")),
        sa.CheckConstraint("version >= 0", name=op.f("ck_carry_decisions_version_not_negative")),
    )
    op.create_index(
        "uq_carry_decisions_one_change_per_version",
        "carry_decisions",
        ["version"],
        unique=True,
        sqlite_where=_CHANGED,
        postgresql_where=_CHANGED,
    )
    op.create_index(op.f("ix_carry_decisions_created_at_ms"), "carry_decisions", ["created_at_ms"])


def downgrade() -> None:
    op.drop_index(op.f("ix_carry_decisions_created_at_ms"), table_name="carry_decisions")
    op.drop_index("uq_carry_decisions_one_change_per_version", table_name="carry_decisions")
    op.drop_table("carry_decisions")
    op.drop_table("allocation_weights")

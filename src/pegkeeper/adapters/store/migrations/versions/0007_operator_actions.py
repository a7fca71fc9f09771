"""The audit trail of operator actions: pause and resume hedging, close the position,
acknowledge an alert.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import RowId

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operator_actions",
        sa.Column("id", RowId, nullable=False, autoincrement=True),
        sa.Column("action_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("result", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("client_address", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_actions")),
        sa.UniqueConstraint("action_id", name=op.f("uq_operator_actions_action_id")),
    )
    op.create_index(
        op.f("ix_operator_actions_correlation_id"), "operator_actions", ["correlation_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_operator_actions_correlation_id"), table_name="operator_actions")
    op.drop_table("operator_actions")

"""The process registry: one row per running process, its last beat on the database's clock.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processes",
        sa.Column("process_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("services", sa.Text(), nullable=False),
        sa.Column("ops_url", sa.String(255), nullable=False),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("seen_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("process_id", name=op.f("pk_processes")),
        sa.CheckConstraint(
            "seen_at_ms >= started_at_ms", name=op.f("ck_processes_seen_after_start")
        ),
    )
    op.create_index(op.f("ix_processes_seen_at_ms"), "processes", ["seen_at_ms"])


def downgrade() -> None:
    op.drop_index(op.f("ix_processes_seen_at_ms"), table_name="processes")
    op.drop_table("processes")

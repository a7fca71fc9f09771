"""How many reads of a polled ledger source failed in a row, so that the gate closes after a
few instead of waiting for the staleness limit.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_sources") as batch:
        batch.add_column(
            sa.Column("failed_polls", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_sources") as batch:
        batch.drop_column("failed_polls")

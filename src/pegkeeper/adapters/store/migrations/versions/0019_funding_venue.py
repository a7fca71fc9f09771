"""The venue of each funding decision and operation: with several venues, each has its own
collateral account (rows written before are the primary venue's).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 64
TABLES = ("funding_decisions", "funding_operations")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(
                    "venue", sa.String(NAME), nullable=False, server_default=sa.text("'primary'")
                )
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("venue")

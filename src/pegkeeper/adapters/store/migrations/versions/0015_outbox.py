"""The outbox: money events written with the state they announce, relayed to the bus after.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import RowId

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNPUBLISHED = sa.text("published_at_ms IS NULL")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", RowId, nullable=False, autoincrement=True),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("published_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        op.f("ix_outbox_unpublished_id"),
        "outbox",
        ["id"],
        sqlite_where=_UNPUBLISHED,
        postgresql_where=_UNPUBLISHED,
    )
    op.create_index(op.f("ix_outbox_published_at_ms"), "outbox", ["published_at_ms"])


def downgrade() -> None:
    op.drop_table("outbox")

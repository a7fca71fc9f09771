"""Peg statistics: one row per computed stablecoin price, and their 1-minute downsampling.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import RowId

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("peg_stats", "peg_stats_1m")
_MEASURES = (
    "rmse",
    "stdev",
    "drawdown",
    "rmse_score",
    "stdev_score",
    "drawdown_score",
    "score",
)


def upgrade() -> None:
    for name in _TABLES:
        op.create_table(
            name,
            sa.Column("id", RowId, nullable=False, autoincrement=True),
            sa.Column("symbol", sa.String(64), nullable=False),
            sa.Column("ts_ms", sa.BigInteger(), nullable=False),
            sa.Column("price", sa.Float(), nullable=False),
            sa.Column("direct", sa.Float(), nullable=True),
            sa.Column("bridged", sa.Float(), nullable=True),
            *(sa.Column(measure, sa.Float(), nullable=False) for measure in _MEASURES),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        )
        op.create_index(op.f(f"ix_{name}_symbol_ts_ms"), name, ["symbol", "ts_ms"])


def downgrade() -> None:
    for name in reversed(_TABLES):
        op.drop_index(op.f(f"ix_{name}_symbol_ts_ms"), table_name=name)
        op.drop_table(name)

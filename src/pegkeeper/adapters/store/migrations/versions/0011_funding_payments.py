"""The swap's funding payments as the venue booked them, and the onchain fee a deposit paid.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import ExactDecimal, RowId

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "funding_payments",
        sa.Column("id", RowId, nullable=False, autoincrement=True),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("bill_id", sa.String(128), nullable=False),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(64), nullable=False),
        sa.Column("amount", ExactDecimal(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_payments")),
        sa.UniqueConstraint("venue", "bill_id", name=op.f("uq_funding_payments_venue_bill_id")),
    )
    op.create_index(
        op.f("ix_funding_payments_currency_ts_ms"), "funding_payments", ["currency", "ts_ms"]
    )
    with op.batch_alter_table("funding_operation_events") as batch:
        batch.add_column(sa.Column("fee_sats", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("funding_operation_events") as batch:
        batch.drop_column("fee_sats")
    op.drop_index(op.f("ix_funding_payments_currency_ts_ms"), table_name="funding_payments")
    op.drop_table("funding_payments")

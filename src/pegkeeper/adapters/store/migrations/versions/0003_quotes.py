"""Quotes of the quote service and their created / accepted events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import ExactDecimal, RowId

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quotes",
        sa.Column("id", RowId, nullable=False, autoincrement=True),
        sa.Column("quote_id", sa.String(36), nullable=False),
        sa.Column("direction", sa.String(64), nullable=False),
        sa.Column("immediate_execution", sa.Boolean(), nullable=False),
        sa.Column("amount_sats", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_rate", ExactDecimal(), nullable=False),
        sa.Column("fee_cents", ExactDecimal(), nullable=False),
        sa.Column("book_source", sa.String(64), nullable=False),
        sa.Column("book_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("accepted_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
        sa.UniqueConstraint("quote_id", name=op.f("uq_quotes_quote_id")),
        sa.CheckConstraint("amount_sats > 0", name=op.f("ck_quotes_amount_sats_positive")),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_quotes_amount_cents_positive")),
    )
    op.create_table(
        "quote_events",
        sa.Column("id", RowId, nullable=False, autoincrement=True),
        sa.Column("quote_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quote_events")),
        sa.ForeignKeyConstraint(
            ["quote_id"], ["quotes.quote_id"], name=op.f("fk_quote_events_quote_id_quotes")
        ),
        sa.UniqueConstraint("quote_id", "kind", name=op.f("uq_quote_events_quote_id_kind")),
    )


def downgrade() -> None:
    op.drop_table("quote_events")
    op.drop_table("quotes")

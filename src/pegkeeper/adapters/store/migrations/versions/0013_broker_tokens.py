"""Broker logins: each broker's OAuth tokens, encrypted (AES-256-GCM), one row per broker.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import RowId

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broker_tokens",
        sa.Column("id", RowId, nullable=False, autoincrement=True),
        sa.Column("broker", sa.String(64), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("access_expires_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("refresh_expires_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broker_tokens")),
        sa.UniqueConstraint("broker", name=op.f("uq_broker_tokens_broker")),
        sa.CheckConstraint("length(nonce) = 12", name=op.f("ck_broker_tokens_nonce_12_bytes")),
    )


def downgrade() -> None:
    op.drop_table("broker_tokens")

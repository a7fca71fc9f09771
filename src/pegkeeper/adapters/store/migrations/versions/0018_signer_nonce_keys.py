"""A signer's nonces keyed by more than its address: the same key on the broker wallet's
chain counts its own, as `address@domain-N`, longer than an address.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADDRESS = 42
SIGNER_KEY = 64


def upgrade() -> None:
    with op.batch_alter_table("rebalance_signer_nonces") as batch:
        batch.alter_column(
            "signer",
            existing_type=sa.String(ADDRESS),
            type_=sa.String(SIGNER_KEY),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("rebalance_signer_nonces") as batch:
        batch.alter_column(
            "signer",
            existing_type=sa.String(SIGNER_KEY),
            type_=sa.String(ADDRESS),
            existing_nullable=False,
        )

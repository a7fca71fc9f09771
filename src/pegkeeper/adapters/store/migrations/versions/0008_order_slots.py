"""One open order per instrument and one open funding operation per account and class, enforced
by the database; slot versions that refuse an order decided on stale inputs.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_slots",
        sa.Column("slot", sa.String(64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_order_slots")),
    )
    with op.batch_alter_table("open_orders") as batch:
        batch.add_column(sa.Column("slot", sa.String(64), nullable=True))
    op.execute(
        "UPDATE open_orders SET slot = (SELECT orders.instrument_id FROM orders "
        "WHERE orders.client_order_id = open_orders.client_order_id)"
    )
    with op.batch_alter_table("open_orders") as batch:
        batch.alter_column("slot", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint(op.f("uq_open_orders_slot"), ["slot"])
    with op.batch_alter_table("open_funding_operations") as batch:
        batch.add_column(sa.Column("slot", sa.String(64), nullable=True))
    op.execute(
        "UPDATE open_funding_operations SET slot = (SELECT funding_operations.currency || ':' || "
        "CASE funding_operations.kind WHEN 'deposit' THEN 'deposit' ELSE 'movement' END "
        "FROM funding_operations "
        "WHERE funding_operations.operation_id = open_funding_operations.operation_id)"
    )
    with op.batch_alter_table("open_funding_operations") as batch:
        batch.alter_column("slot", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint(op.f("uq_open_funding_operations_slot"), ["slot"])


def downgrade() -> None:
    with op.batch_alter_table("open_funding_operations") as batch:
        batch.drop_constraint(op.f("uq_open_funding_operations_slot"), type_="unique")
        batch.drop_column("slot")
    with op.batch_alter_table("open_orders") as batch:
        batch.drop_constraint(op.f("uq_open_orders_slot"), type_="unique")
        batch.drop_column("slot")
    op.drop_table("order_slots")

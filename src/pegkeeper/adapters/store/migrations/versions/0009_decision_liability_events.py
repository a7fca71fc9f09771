"""The liability events each hedge decision answers: every event since the leg's previous
decision, so that each event's audit trail reaches the decision and orders that covered it.

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "decision_liability_events",
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("liability_seq", sa.BigInteger(), nullable=False),
        sa.Column("leg", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint(
            "decision_id", "liability_seq", name=op.f("pk_decision_liability_events")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["hedge_decisions.decision_id"],
            name=op.f("fk_decision_liability_events_decision_id_hedge_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["liability_seq"],
            ["liability_events.seq"],
            name=op.f("fk_decision_liability_events_liability_seq_liability_events"),
        ),
    )
    op.create_index(
        op.f("ix_decision_liability_events_liability_seq"),
        "decision_liability_events",
        ["liability_seq"],
    )
    op.create_index(
        op.f("ix_decision_liability_events_leg_liability_seq"),
        "decision_liability_events",
        ["leg", "liability_seq"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_decision_liability_events_leg_liability_seq"), "decision_liability_events"
    )
    op.drop_index(op.f("ix_decision_liability_events_liability_seq"), "decision_liability_events")
    op.drop_table("decision_liability_events")

"""The funding manager: decisions, transfers, deposits and withdrawals with their states,
fee bumps, leverage snapshots, alerts sent; rolls of dated futures.

Revision ID: 0005
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import ExactDecimal, RowId

revision: str = "0005"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", RowId, nullable=False, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "funding_decisions",
        _id(),
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("amount", ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(64), nullable=False),
        sa.Column("liability_cents", sa.BigInteger(), nullable=False),
        sa.Column("exposure_cents", sa.BigInteger(), nullable=False),
        sa.Column("collateral", ExactDecimal(), nullable=False),
        sa.Column("funding_balance", ExactDecimal(), nullable=False),
        sa.Column("price_usd", ExactDecimal(), nullable=False),
        sa.Column("leverage", ExactDecimal(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_decisions")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_funding_decisions_decision_id")),
    )
    op.create_table(
        "funding_operations",
        _id(),
        sa.Column("operation_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(64), nullable=False),
        sa.Column("amount", ExactDecimal(), nullable=False),
        sa.Column("fee", ExactDecimal(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_operations")),
        sa.UniqueConstraint("operation_id", name=op.f("uq_funding_operations_operation_id")),
    )
    op.create_table(
        "funding_operation_events",
        _id(),
        sa.Column("operation_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("venue_id", sa.String(128), nullable=False),
        sa.Column("tx_id", sa.String(128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_operation_events")),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["funding_operations.operation_id"],
            name=op.f("fk_funding_operation_events_operation_id_funding_operations"),
        ),
    )
    op.create_index(
        op.f("ix_funding_operation_events_operation_id_id"),
        "funding_operation_events",
        ["operation_id", "id"],
    )
    op.create_table(
        "open_funding_operations",
        sa.Column("operation_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("operation_id", name=op.f("pk_open_funding_operations")),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["funding_operations.operation_id"],
            name=op.f("fk_open_funding_operations_operation_id_funding_operations"),
        ),
    )
    op.create_table(
        "fee_bumps",
        _id(),
        sa.Column("operation_id", sa.String(32), nullable=False),
        sa.Column("old_tx_id", sa.String(128), nullable=False),
        sa.Column("new_tx_id", sa.String(128), nullable=False),
        sa.Column("old_fee_rate_sat_vb", ExactDecimal(), nullable=False),
        sa.Column("new_fee_rate_sat_vb", ExactDecimal(), nullable=False),
        sa.Column("leverage", ExactDecimal(), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_bumps")),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["funding_operations.operation_id"],
            name=op.f("fk_fee_bumps_operation_id_funding_operations"),
        ),
    )
    op.create_index(op.f("ix_fee_bumps_operation_id"), "fee_bumps", ["operation_id"])
    op.create_table(
        "leverage_snapshots",
        _id(),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(64), nullable=False),
        sa.Column("mark_price_usd", ExactDecimal(), nullable=False),
        sa.Column("position_contracts", ExactDecimal(), nullable=False),
        sa.Column("notional", ExactDecimal(), nullable=False),
        sa.Column("equity", ExactDecimal(), nullable=False),
        sa.Column("funding_balance", ExactDecimal(), nullable=False),
        sa.Column("leverage", ExactDecimal(), nullable=True),
        sa.Column("liquidation_price_usd", ExactDecimal(), nullable=True),
        sa.Column("liquidation_source", sa.String(64), nullable=False),
        sa.Column("distance_pct", ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leverage_snapshots")),
    )
    op.create_table(
        "alerts_sent",
        _id(),
        sa.Column("alert_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts_sent")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_alerts_sent_alert_id")),
    )
    op.create_table(
        "hedge_rolls",
        _id(),
        sa.Column("roll_id", sa.String(128), nullable=False),
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("from_instrument_id", sa.String(64), nullable=False),
        sa.Column("to_instrument_id", sa.String(64), nullable=False),
        sa.Column("size_contracts", ExactDecimal(), nullable=False),
        sa.Column("from_position_contracts", ExactDecimal(), nullable=False),
        sa.Column("open_client_order_id", sa.String(32), nullable=False),
        sa.Column("close_client_order_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hedge_rolls")),
        sa.UniqueConstraint("roll_id", name=op.f("uq_hedge_rolls_roll_id")),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["hedge_decisions.decision_id"],
            name=op.f("fk_hedge_rolls_decision_id_hedge_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["open_client_order_id"],
            ["orders.client_order_id"],
            name=op.f("fk_hedge_rolls_open_client_order_id_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["close_client_order_id"],
            ["orders.client_order_id"],
            name=op.f("fk_hedge_rolls_close_client_order_id_orders"),
        ),
    )


def downgrade() -> None:
    op.drop_table("hedge_rolls")
    op.drop_table("alerts_sent")
    op.drop_table("leverage_snapshots")
    op.drop_index(op.f("ix_fee_bumps_operation_id"), table_name="fee_bumps")
    op.drop_table("fee_bumps")
    op.drop_table("open_funding_operations")
    op.drop_index(
        op.f("ix_funding_operation_events_operation_id_id"), table_name="funding_operation_events"
    )
    op.drop_table("funding_operation_events")
    op.drop_table("funding_operations")
    op.drop_table("funding_decisions")

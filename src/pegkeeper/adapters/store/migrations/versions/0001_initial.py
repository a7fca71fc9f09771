"""The initial schema: liability ledger, hedge decisions, orders, order events, fills,
position snapshots.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import ExactDecimal, RowId

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", RowId, nullable=False, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "liability_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("delta_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_cents", sa.BigInteger(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_liability_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_liability_events_event_id")),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_liability_events_seq_positive")),
        sa.CheckConstraint(
            "balance_after_cents >= 0", name=op.f("ck_liability_events_balance_not_negative")
        ),
    )
    op.create_table(
        "hedge_decisions",
        _id(),
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("size_contracts", ExactDecimal(), nullable=False),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("liability_cents", sa.BigInteger(), nullable=False),
        sa.Column("exposure_cents", sa.BigInteger(), nullable=False),
        sa.Column("position_contracts", ExactDecimal(), nullable=False),
        sa.Column("hedge_ratio", ExactDecimal(), nullable=True),
        sa.Column("btc_price_usd", ExactDecimal(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hedge_decisions")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_hedge_decisions_decision_id")),
    )
    op.create_table(
        "orders",
        _id(),
        sa.Column("client_order_id", sa.String(32), nullable=False),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("side", sa.String(64), nullable=True),
        sa.Column("size_contracts", ExactDecimal(), nullable=False),
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    op.create_table(
        "order_events",
        _id(),
        sa.Column("client_order_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("venue_order_id", sa.String(128), nullable=False),
        sa.Column("filled_contracts", ExactDecimal(), nullable=False),
        sa.Column("avg_price_usd", ExactDecimal(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
        sa.ForeignKeyConstraint(
            ["client_order_id"],
            ["orders.client_order_id"],
            name=op.f("fk_order_events_client_order_id_orders"),
        ),
    )
    op.create_index(
        op.f("ix_order_events_client_order_id_id"), "order_events", ["client_order_id", "id"]
    )
    op.create_table(
        "open_orders",
        sa.Column("client_order_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("client_order_id", name=op.f("pk_open_orders")),
        sa.ForeignKeyConstraint(
            ["client_order_id"],
            ["orders.client_order_id"],
            name=op.f("fk_open_orders_client_order_id_orders"),
        ),
    )
    op.create_table(
        "fills",
        _id(),
        sa.Column("fill_id", sa.String(128), nullable=False),
        sa.Column("client_order_id", sa.String(128), nullable=False),
        sa.Column("size_contracts", ExactDecimal(), nullable=False),
        sa.Column("price_usd", ExactDecimal(), nullable=False),
        sa.Column("fee", ExactDecimal(), nullable=False),
        sa.Column("fee_currency", sa.String(64), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("fill_id", name=op.f("uq_fills_fill_id")),
    )
    op.create_index(op.f("ix_fills_client_order_id"), "fills", ["client_order_id"])
    op.create_table(
        "position_snapshots",
        _id(),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("size_contracts", ExactDecimal(), nullable=False),
        sa.Column("avg_price_usd", ExactDecimal(), nullable=True),
        sa.Column("mark_price_usd", ExactDecimal(), nullable=False),
        sa.Column("exposure_cents", sa.BigInteger(), nullable=False),
        sa.Column("liquidation_price_usd", ExactDecimal(), nullable=True),
        sa.Column("collateral", ExactDecimal(), nullable=False),
        sa.Column("collateral_available", ExactDecimal(), nullable=False),
        sa.Column("funding_balance", ExactDecimal(), nullable=False),
        sa.Column("leverage", ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_position_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("position_snapshots")
    op.drop_index(op.f("ix_fills_client_order_id"), table_name="fills")
    op.drop_table("fills")
    op.drop_table("open_orders")
    op.drop_index(op.f("ix_order_events_client_order_id_id"), table_name="order_events")
    op.drop_table("order_events")
    op.drop_table("orders")
    op.drop_table("hedge_decisions")
    op.drop_table("liability_events")

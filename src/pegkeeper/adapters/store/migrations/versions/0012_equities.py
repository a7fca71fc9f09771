"""The tokenized-equity hedger: the chain checkpoint and kept block hashes, onchain fills and
skipped logs, broker orders (one open per symbol), their states and fills, the allocations
between fills, and FIFO P&L per trade.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import ExactDecimal, RowId

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 128
NAME = 64
HASH = 66
ADDRESS = 42
_LIVE = sa.text("reverted_at_ms IS NULL")


def _id() -> sa.Column[int]:
    return sa.Column("id", RowId, nullable=False, autoincrement=True)


def _orders_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["client_order_id"], ["equity_broker_orders.client_order_id"], name=op.f(name)
    )


def upgrade() -> None:
    _chain_tables()
    _order_tables()
    _ledger_tables()


def _chain_tables() -> None:
    op.create_table(
        "equity_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(HASH), nullable=False),
        sa.Column("block_timestamp_s", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_checkpoint")),
        sa.CheckConstraint("id = 1", name=op.f("ck_equity_checkpoint_single_row")),
    )
    op.create_table(
        "equity_block_hashes",
        sa.Column("block_number", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("block_hash", sa.String(HASH), nullable=False),
        sa.PrimaryKeyConstraint("block_number", name=op.f("pk_equity_block_hashes")),
    )
    op.create_table(
        "equity_onchain_fills",
        _id(),
        sa.Column("fill_id", sa.String(ID), nullable=False),
        sa.Column("symbol", sa.String(NAME), nullable=False),
        sa.Column("generation", sa.String(NAME), nullable=False),
        sa.Column("side", sa.String(NAME), nullable=False),
        sa.Column("shares", ExactDecimal(), nullable=False),
        sa.Column("usdc", ExactDecimal(), nullable=False),
        sa.Column("token", sa.String(ADDRESS), nullable=False),
        sa.Column("shares_per_token", ExactDecimal(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(HASH), nullable=False),
        sa.Column("block_timestamp_s", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(HASH), nullable=False),
        sa.Column("covered_shares", ExactDecimal(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("recorded_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("reverted_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_onchain_fills")),
        sa.CheckConstraint(
            "side IN ('bought', 'sold')", name=op.f("ck_equity_onchain_fills_side_known")
        ),
        sa.CheckConstraint(
            "log_index >= 0", name=op.f("ck_equity_onchain_fills_log_index_not_negative")
        ),
    )
    op.create_index(
        op.f("uq_equity_onchain_fills_live_fill_id"),
        "equity_onchain_fills",
        ["fill_id"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.create_index(
        op.f("ix_equity_onchain_fills_symbol_block_number_log_index"),
        "equity_onchain_fills",
        ["symbol", "block_number", "log_index"],
    )
    op.create_index(
        op.f("ix_equity_onchain_fills_block_number"), "equity_onchain_fills", ["block_number"]
    )
    op.create_index(
        op.f("ix_equity_onchain_fills_symbol_is_open"),
        "equity_onchain_fills",
        ["symbol", "is_open"],
    )
    op.create_table(
        "equity_skipped_logs",
        _id(),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(HASH), nullable=False),
        sa.Column("block_timestamp_s", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(HASH), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(NAME), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("recorded_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("reverted_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_skipped_logs")),
        sa.UniqueConstraint(
            "block_hash", "log_index", name=op.f("uq_equity_skipped_logs_block_hash_log_index")
        ),
    )
    op.create_index(
        op.f("ix_equity_skipped_logs_block_number"), "equity_skipped_logs", ["block_number"]
    )


def _order_tables() -> None:
    op.create_table(
        "equity_positions",
        sa.Column("symbol", sa.String(NAME), nullable=False),
        sa.Column("onchain_net", ExactDecimal(), nullable=False),
        sa.Column("broker_net", ExactDecimal(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_equity_positions")),
    )
    op.create_table(
        "equity_broker_orders",
        _id(),
        sa.Column("client_order_id", sa.String(ID), nullable=False),
        sa.Column("symbol", sa.String(NAME), nullable=False),
        sa.Column("side", sa.String(NAME), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("order_type", sa.String(NAME), nullable=False),
        sa.Column("limit_price_usd", ExactDecimal(), nullable=True),
        sa.Column("extended_hours", sa.Boolean(), nullable=False),
        sa.Column("correlation_id", sa.String(ID), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(NAME), nullable=False),
        sa.Column("broker_order_id", sa.String(ID), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("filled_quantity", ExactDecimal(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("open_slot", sa.String(NAME), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_broker_orders")),
        sa.UniqueConstraint(
            "client_order_id", name=op.f("uq_equity_broker_orders_client_order_id")
        ),
        sa.UniqueConstraint("open_slot", name=op.f("uq_equity_broker_orders_open_slot")),
        sa.CheckConstraint(
            "side IN ('buy', 'sell')", name=op.f("ck_equity_broker_orders_side_known")
        ),
        sa.CheckConstraint(
            "open_slot IS NULL OR open_slot = symbol",
            name=op.f("ck_equity_broker_orders_slot_is_symbol"),
        ),
    )
    op.create_index(
        op.f("ix_equity_broker_orders_symbol_id"), "equity_broker_orders", ["symbol", "id"]
    )
    op.create_table(
        "equity_broker_order_events",
        _id(),
        sa.Column("client_order_id", sa.String(ID), nullable=False),
        sa.Column("state", sa.String(NAME), nullable=False),
        sa.Column("broker_order_id", sa.String(ID), nullable=False),
        sa.Column("filled_quantity", ExactDecimal(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_broker_order_events")),
        _orders_fk("fk_equity_broker_order_events_order"),
    )
    op.create_index(
        op.f("ix_equity_broker_order_events_client_order_id_id"),
        "equity_broker_order_events",
        ["client_order_id", "id"],
    )


def _ledger_tables() -> None:
    op.create_table(
        "equity_broker_fills",
        _id(),
        sa.Column("client_order_id", sa.String(ID), nullable=False),
        sa.Column("fill_id", sa.String(ID), nullable=False),
        sa.Column("symbol", sa.String(NAME), nullable=False),
        sa.Column("side", sa.String(NAME), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("price_usd", ExactDecimal(), nullable=False),
        sa.Column("fee_usd", ExactDecimal(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("covered_shares", ExactDecimal(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("recorded_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_broker_fills")),
        sa.UniqueConstraint(
            "client_order_id",
            "fill_id",
            name=op.f("uq_equity_broker_fills_client_order_id_fill_id"),
        ),
        sa.CheckConstraint(
            "side IN ('buy', 'sell')", name=op.f("ck_equity_broker_fills_side_known")
        ),
        _orders_fk("fk_equity_broker_fills_client_order_id_equity_broker_orders"),
    )
    op.create_index(
        op.f("ix_equity_broker_fills_symbol_is_open"),
        "equity_broker_fills",
        ["symbol", "is_open"],
    )
    op.create_index(op.f("ix_equity_broker_fills_ts_ms"), "equity_broker_fills", ["ts_ms"])
    op.create_table(
        "equity_allocations",
        _id(),
        sa.Column("client_order_id", sa.String(ID), nullable=False),
        sa.Column("broker_fill_id", sa.String(ID), nullable=False),
        sa.Column("onchain_fill_row", RowId, nullable=False),
        sa.Column("onchain_fill_id", sa.String(ID), nullable=False),
        sa.Column("symbol", sa.String(NAME), nullable=False),
        sa.Column("shares", ExactDecimal(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("released_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_allocations")),
        sa.ForeignKeyConstraint(
            ["client_order_id", "broker_fill_id"],
            ["equity_broker_fills.client_order_id", "equity_broker_fills.fill_id"],
            name=op.f("fk_equity_allocations_broker_fill"),
        ),
        sa.ForeignKeyConstraint(
            ["onchain_fill_row"],
            ["equity_onchain_fills.id"],
            name=op.f("fk_equity_allocations_onchain_fill_row_equity_onchain_fills"),
        ),
        sa.UniqueConstraint(
            "client_order_id",
            "broker_fill_id",
            "onchain_fill_row",
            name=op.f("uq_equity_allocations_pair"),
        ),
    )
    op.create_index(
        op.f("ix_equity_allocations_onchain_fill_row"), "equity_allocations", ["onchain_fill_row"]
    )
    op.create_table(
        "equity_pnl_entries",
        _id(),
        sa.Column("trade_id", sa.String(ID), nullable=False),
        sa.Column("symbol", sa.String(NAME), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("counter_trade_usd", ExactDecimal(), nullable=True),
        sa.Column("onchain_netting_usd", ExactDecimal(), nullable=True),
        sa.Column("directional_exposure_usd", ExactDecimal(), nullable=True),
        sa.Column("fee_usd", ExactDecimal(), nullable=False),
        sa.Column("position_after", ExactDecimal(), nullable=False),
        sa.Column("realised_total_usd", ExactDecimal(), nullable=False),
        sa.Column("fees_total_usd", ExactDecimal(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_pnl_entries")),
        sa.UniqueConstraint("trade_id", name=op.f("uq_equity_pnl_entries_trade_id")),
    )
    op.create_index(op.f("ix_equity_pnl_entries_ts_ms"), "equity_pnl_entries", ["ts_ms"])


def downgrade() -> None:
    op.drop_index(op.f("ix_equity_pnl_entries_ts_ms"), table_name="equity_pnl_entries")
    op.drop_table("equity_pnl_entries")
    op.drop_index(op.f("ix_equity_allocations_onchain_fill_row"), table_name="equity_allocations")
    op.drop_table("equity_allocations")
    op.drop_index(op.f("ix_equity_broker_fills_ts_ms"), table_name="equity_broker_fills")
    op.drop_index(op.f("ix_equity_broker_fills_symbol_is_open"), table_name="equity_broker_fills")
    op.drop_table("equity_broker_fills")
    op.drop_index(
        op.f("ix_equity_broker_order_events_client_order_id_id"),
        table_name="equity_broker_order_events",
    )
    op.drop_table("equity_broker_order_events")
    op.drop_index(op.f("ix_equity_broker_orders_symbol_id"), table_name="equity_broker_orders")
    op.drop_table("equity_broker_orders")
    op.drop_table("equity_positions")
    op.drop_index(op.f("ix_equity_skipped_logs_block_number"), table_name="equity_skipped_logs")
    op.drop_table("equity_skipped_logs")
    for index in (
        "ix_equity_onchain_fills_symbol_is_open",
        "ix_equity_onchain_fills_block_number",
        "ix_equity_onchain_fills_symbol_block_number_log_index",
        "uq_equity_onchain_fills_live_fill_id",
    ):
        op.drop_index(op.f(index), table_name="equity_onchain_fills")
    op.drop_table("equity_onchain_fills")
    op.drop_table("equity_block_hashes")
    op.drop_table("equity_checkpoint")

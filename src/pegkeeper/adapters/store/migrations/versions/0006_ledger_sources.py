"""Polled ledger sources: Galoy transactions, their pairing into trades, corrections, and how
far each source has read.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import RowId

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 128
NAME = 64


def _id() -> sa.Column[int]:
    return sa.Column("id", RowId, nullable=False, autoincrement=True)


def _tx_fk(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["galoy_transactions.tx_id"],
        name=op.f(f"fk_{table}_{column}_galoy_transactions"),
    )


def upgrade() -> None:
    op.create_table(
        "galoy_transactions",
        _id(),
        sa.Column("tx_id", sa.String(ID), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("direction", sa.String(NAME), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("status", sa.String(NAME), nullable=True),
        sa.Column("settlement_amount", sa.BigInteger(), nullable=True),
        sa.Column("settlement_currency", sa.String(NAME), nullable=True),
        sa.Column("settlement_via", sa.String(NAME), nullable=True),
        sa.Column("usd_cents", sa.BigInteger(), nullable=True),
        sa.Column("rejected_reason", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("stored_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_galoy_transactions")),
        sa.UniqueConstraint("tx_id", name=op.f("uq_galoy_transactions_tx_id")),
    )
    op.create_index(
        op.f("ix_galoy_transactions_created_at_ms"), "galoy_transactions", ["created_at_ms"]
    )
    op.create_table(
        "galoy_trades",
        _id(),
        sa.Column("trade_id", sa.String(ID), nullable=False),
        sa.Column("btc_tx_id", sa.String(ID), nullable=False),
        sa.Column("usd_tx_id", sa.String(ID), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("sats", sa.BigInteger(), nullable=False),
        sa.Column("matched_by", sa.String(NAME), nullable=False),
        sa.Column("paired_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_galoy_trades")),
        sa.UniqueConstraint("trade_id", name=op.f("uq_galoy_trades_trade_id")),
        _tx_fk("btc_tx_id", "galoy_trades"),
        _tx_fk("usd_tx_id", "galoy_trades"),
    )
    op.create_index(op.f("ix_galoy_trades_btc_tx_id"), "galoy_trades", ["btc_tx_id"])
    op.create_index(op.f("ix_galoy_trades_usd_tx_id"), "galoy_trades", ["usd_tx_id"])
    op.create_table(
        "galoy_corrections",
        _id(),
        sa.Column("correction_id", sa.String(ID), nullable=False),
        sa.Column("trade_id", sa.String(ID), nullable=False),
        sa.Column("reversed_in_ledger", sa.Boolean(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_galoy_corrections")),
        sa.UniqueConstraint("correction_id", name=op.f("uq_galoy_corrections_correction_id")),
        sa.UniqueConstraint("trade_id", name=op.f("uq_galoy_corrections_trade_id")),
        sa.ForeignKeyConstraint(
            ["trade_id"],
            ["galoy_trades.trade_id"],
            name=op.f("fk_galoy_corrections_trade_id_galoy_trades"),
        ),
    )
    op.create_table(
        "galoy_unpaired",
        sa.Column("tx_id", sa.String(ID), nullable=False),
        sa.Column("checked_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tx_id", name=op.f("pk_galoy_unpaired")),
        _tx_fk("tx_id", "galoy_unpaired"),
    )
    op.create_table(
        "galoy_unposted",
        sa.Column("event_id", sa.String(ID), nullable=False),
        sa.Column("delta_cents", sa.BigInteger(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("order_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_galoy_unposted")),
    )
    op.create_table(
        "ledger_sources",
        sa.Column("source", sa.String(NAME), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("has_more", sa.Boolean(), nullable=False),
        sa.Column("last_poll_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("stopped", sa.Boolean(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_ledger_sources")),
    )


def downgrade() -> None:
    op.drop_table("ledger_sources")
    op.drop_table("galoy_unposted")
    op.drop_table("galoy_unpaired")
    op.drop_table("galoy_corrections")
    op.drop_index(op.f("ix_galoy_trades_usd_tx_id"), table_name="galoy_trades")
    op.drop_index(op.f("ix_galoy_trades_btc_tx_id"), table_name="galoy_trades")
    op.drop_table("galoy_trades")
    op.drop_index(op.f("ix_galoy_transactions_created_at_ms"), table_name="galoy_transactions")
    op.drop_table("galoy_transactions")

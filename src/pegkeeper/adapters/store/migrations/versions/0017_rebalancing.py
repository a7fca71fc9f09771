"""Inventory rebalancing: proposals, moves (one active or stuck per asset) with their events
and step intents, signer nonces, execution switches, move costs, inventory snapshots.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pegkeeper.adapters.store.types import ExactDecimal, RowId

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 128
NAME = 64
HASH = 66
ADDRESS = 42
_HOLDS_SLOT = sa.text("status IN ('active', 'stuck')")


def _id() -> sa.Column[int]:
    return sa.Column("id", RowId, nullable=False, autoincrement=True)


def _moves_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["move_id"],
        ["rebalance_moves.move_id"],
        name=op.f(f"fk_{table}_move_id_rebalance_moves"),
    )


def upgrade() -> None:
    _proposals_and_moves()
    _steps_and_events()
    _the_rest()


def _proposals_and_moves() -> None:
    op.create_table(
        "rebalance_proposals",
        _id(),
        sa.Column("proposal_id", sa.String(ID), nullable=False),
        sa.Column("asset", sa.String(NAME), nullable=False),
        sa.Column("direction", sa.String(NAME), nullable=False),
        sa.Column("amount", ExactDecimal(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("unblocks", sa.Text(), nullable=False),
        sa.Column("status", sa.String(NAME), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("decided_by", sa.String(NAME), nullable=False),
        sa.Column("decided_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("move_id", sa.String(ID), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebalance_proposals")),
        sa.UniqueConstraint("proposal_id", name=op.f("uq_rebalance_proposals_proposal_id")),
        sa.CheckConstraint(
            "direction IN ('to_chain', 'to_broker')",
            name=op.f("ck_rebalance_proposals_direction_known"),
        ),
        sa.CheckConstraint(
            "status IN ('proposed', 'approved', 'executing', 'done', 'dismissed')",
            name=op.f("ck_rebalance_proposals_status_known"),
        ),
    )
    op.create_index(
        op.f("ix_rebalance_proposals_asset_status"), "rebalance_proposals", ["asset", "status"]
    )
    op.create_table(
        "rebalance_moves",
        _id(),
        sa.Column("move_id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(NAME), nullable=False),
        sa.Column("asset", sa.String(NAME), nullable=False),
        sa.Column("amount", ExactDecimal(), nullable=False),
        sa.Column("wrapped", sa.Boolean(), nullable=False),
        sa.Column("bridged", sa.Boolean(), nullable=False),
        sa.Column("step", sa.String(NAME), nullable=False),
        sa.Column("status", sa.String(NAME), nullable=False),
        sa.Column("proposal_id", sa.String(ID), nullable=False),
        sa.Column("halt", sa.String(NAME), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("step_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebalance_moves")),
        sa.UniqueConstraint("move_id", name=op.f("uq_rebalance_moves_move_id")),
        sa.CheckConstraint(
            "kind IN ('mint', 'redeem', 'cash_to_chain', 'cash_home')",
            name=op.f("ck_rebalance_moves_kind_known"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'completed', 'failed', 'stuck')",
            name=op.f("ck_rebalance_moves_status_known"),
        ),
    )
    op.create_index(
        "uq_rebalance_moves_one_per_asset",
        "rebalance_moves",
        ["asset"],
        unique=True,
        sqlite_where=_HOLDS_SLOT,
        postgresql_where=_HOLDS_SLOT,
    )
    op.create_index(op.f("ix_rebalance_moves_created_at_ms"), "rebalance_moves", ["created_at_ms"])


def _steps_and_events() -> None:
    op.create_table(
        "rebalance_move_events",
        _id(),
        sa.Column("move_id", sa.String(ID), nullable=False),
        sa.Column("step", sa.String(NAME), nullable=False),
        sa.Column("status", sa.String(NAME), nullable=False),
        sa.Column("halt", sa.String(NAME), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebalance_move_events")),
        _moves_fk("rebalance_move_events"),
    )
    op.create_index(
        op.f("ix_rebalance_move_events_move_id_id"), "rebalance_move_events", ["move_id", "id"]
    )
    op.create_table(
        "rebalance_move_steps",
        _id(),
        sa.Column("move_id", sa.String(ID), nullable=False),
        sa.Column("step", sa.String(NAME), nullable=False),
        sa.Column("status", sa.String(NAME), nullable=False),
        sa.Column("request_id", sa.String(ID), nullable=False),
        sa.Column("tx_hash", sa.String(HASH), nullable=False),
        sa.Column("signer", sa.String(ADDRESS), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("raw_tx", sa.Text(), nullable=False),
        sa.Column("amount_asked", ExactDecimal(), nullable=True),
        sa.Column("amount_received", ExactDecimal(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("replaced_tx_hashes", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebalance_move_steps")),
        _moves_fk("rebalance_move_steps"),
        sa.UniqueConstraint("move_id", "step", name=op.f("uq_rebalance_move_steps_move_id_step")),
        sa.CheckConstraint(
            "status IN ('intended', 'sent', 'confirmed', 'failed')",
            name=op.f("ck_rebalance_move_steps_status_known"),
        ),
    )
    op.create_index(op.f("ix_rebalance_move_steps_tx_hash"), "rebalance_move_steps", ["tx_hash"])


def _the_rest() -> None:
    op.create_table(
        "rebalance_signer_nonces",
        sa.Column("signer", sa.String(ADDRESS), nullable=False),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("signer", name=op.f("pk_rebalance_signer_nonces")),
        sa.CheckConstraint(
            "next_nonce >= 0", name=op.f("ck_rebalance_signer_nonces_next_nonce_not_negative")
        ),
    )
    op.create_table(
        "rebalance_switches",
        sa.Column("scope", sa.String(NAME), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(NAME), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_rebalance_switches")),
    )
    op.create_table(
        "rebalance_move_costs",
        _id(),
        sa.Column("move_id", sa.String(ID), nullable=False),
        sa.Column("step", sa.String(NAME), nullable=False),
        sa.Column("kind", sa.String(NAME), nullable=False),
        sa.Column("amount_usd", ExactDecimal(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebalance_move_costs")),
        _moves_fk("rebalance_move_costs"),
        sa.UniqueConstraint(
            "move_id", "step", "kind", name=op.f("uq_rebalance_move_costs_move_id_step_kind")
        ),
        sa.CheckConstraint(
            "kind IN ('gas', 'fee', 'conversion')", name=op.f("ck_rebalance_move_costs_kind_known")
        ),
    )
    op.create_index(
        op.f("ix_rebalance_move_costs_created_at_ms"), "rebalance_move_costs", ["created_at_ms"]
    )
    op.create_table(
        "rebalance_inventory_snapshots",
        _id(),
        sa.Column("asset", sa.String(NAME), nullable=False),
        sa.Column("onchain", ExactDecimal(), nullable=False),
        sa.Column("broker", ExactDecimal(), nullable=False),
        sa.Column("in_flight", ExactDecimal(), nullable=False),
        sa.Column("onchain_share", ExactDecimal(), nullable=True),
        sa.Column("target", ExactDecimal(), nullable=False),
        sa.Column("deviation", ExactDecimal(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("broker_stamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebalance_inventory_snapshots")),
    )
    op.create_index(
        op.f("ix_rebalance_inventory_snapshots_asset_id"),
        "rebalance_inventory_snapshots",
        ["asset", "id"],
    )


def downgrade() -> None:
    for table in (
        "rebalance_inventory_snapshots",
        "rebalance_move_costs",
        "rebalance_switches",
        "rebalance_signer_nonces",
        "rebalance_move_steps",
        "rebalance_move_events",
        "rebalance_moves",
        "rebalance_proposals",
    ):
        op.drop_table(table)

"""The rebalancer's tables (migration 0017), beside `tables.py` and under its rules, except for
rows that hold a current state, each for a stated reason:

- a proposal's status and a move's step and status change in place (every change of a move
  is also appended to `rebalance_move_events`, the trail);
- a move's slot: the partial unique index on `asset` over active and stuck moves makes the
  database refuse a second move of an asset (the cash asset is "USD");
- a step's row is its intent, written before the request, then its result: one per step of a
  move (unique), so that no step is requested twice;
- a signer's next nonce is one row per signer, raised in the transaction that reserves one.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from pegkeeper.adapters.store.equity_tables import ADDRESS, HASH
from pegkeeper.adapters.store.tables import ID, NAME, metadata
from pegkeeper.adapters.store.types import ExactDecimal, RowId

HOLDS_SLOT = text("status IN ('active', 'stuck')")
GLOBAL_SWITCH = "*"  # the switches row that enables execution for every asset

rebalance_proposals = Table(
    "rebalance_proposals",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("proposal_id", String(ID), nullable=False, unique=True),
    Column("asset", String(NAME), nullable=False),
    Column("direction", String(NAME), nullable=False),
    Column("amount", ExactDecimal, nullable=False),
    Column("reason", Text, nullable=False),
    Column("unblocks", Text, nullable=False),  # a JSON list of the hedges, in words
    Column("status", String(NAME), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("decided_by", String(NAME), nullable=False),
    Column("decided_at_ms", BigInteger, nullable=True),
    Column("move_id", String(ID), nullable=False),
    CheckConstraint("direction IN ('to_chain', 'to_broker')", name="direction_known"),
    CheckConstraint(
        "status IN ('proposed', 'approved', 'executing', 'done', 'dismissed')",
        name="status_known",
    ),
    Index(None, "asset", "status"),
)

rebalance_moves = Table(
    "rebalance_moves",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("move_id", String(ID), nullable=False, unique=True),
    Column("kind", String(NAME), nullable=False),
    Column("asset", String(NAME), nullable=False),
    Column("amount", ExactDecimal, nullable=False),
    Column("wrapped", Boolean, nullable=False),
    Column("bridged", Boolean, nullable=False),
    Column("step", String(NAME), nullable=False),
    Column("status", String(NAME), nullable=False),
    Column("proposal_id", String(ID), nullable=False),
    Column("halt", String(NAME), nullable=False),
    Column("error", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("step_at_ms", BigInteger, nullable=False),
    CheckConstraint("kind IN ('mint', 'redeem', 'cash_to_chain', 'cash_home')", name="kind_known"),
    CheckConstraint("status IN ('active', 'completed', 'failed', 'stuck')", name="status_known"),
    Index(
        "uq_rebalance_moves_one_per_asset",
        "asset",
        unique=True,
        sqlite_where=HOLDS_SLOT,
        postgresql_where=HOLDS_SLOT,
    ),
    Index(None, "created_at_ms"),
)

rebalance_move_events = Table(
    "rebalance_move_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("move_id", String(ID), ForeignKey("rebalance_moves.move_id"), nullable=False),
    Column("step", String(NAME), nullable=False),
    Column("status", String(NAME), nullable=False),
    Column("halt", String(NAME), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Index(None, "move_id", "id"),
)

rebalance_move_steps = Table(
    "rebalance_move_steps",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("move_id", String(ID), ForeignKey("rebalance_moves.move_id"), nullable=False),
    Column("step", String(NAME), nullable=False),
    Column("status", String(NAME), nullable=False),
    Column("request_id", String(ID), nullable=False),
    Column("tx_hash", String(HASH), nullable=False),
    Column("signer", String(ADDRESS), nullable=False),
    Column("nonce", BigInteger, nullable=True),
    Column("raw_tx", Text, nullable=False),
    Column("amount_asked", ExactDecimal, nullable=True),
    Column("amount_received", ExactDecimal, nullable=True),
    Column("detail", Text, nullable=False),
    Column("replaced_tx_hashes", Text, nullable=False),  # JSON list, oldest first
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    CheckConstraint("status IN ('intended', 'sent', 'confirmed', 'failed')", name="status_known"),
    UniqueConstraint("move_id", "step"),
    Index(None, "tx_hash"),
)

rebalance_signer_nonces = Table(
    "rebalance_signer_nonces",
    metadata,
    Column("signer", String(NAME), primary_key=True),  # the address, or address@domain-N
    Column("next_nonce", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    CheckConstraint("next_nonce >= 0", name="next_nonce_not_negative"),
)

# Execution switches: the GLOBAL_SWITCH row, and one row per asset; a missing row is off.
rebalance_switches = Table(
    "rebalance_switches",
    metadata,
    Column("scope", String(NAME), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("updated_by", String(NAME), nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

rebalance_move_costs = Table(
    "rebalance_move_costs",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("move_id", String(ID), ForeignKey("rebalance_moves.move_id"), nullable=False),
    Column("step", String(NAME), nullable=False),
    Column("kind", String(NAME), nullable=False),
    Column("amount_usd", ExactDecimal, nullable=False),
    Column("detail", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    CheckConstraint("kind IN ('gas', 'fee', 'conversion')", name="kind_known"),
    UniqueConstraint("move_id", "step", "kind"),
    Index(None, "created_at_ms"),
)

rebalance_inventory_snapshots = Table(
    "rebalance_inventory_snapshots",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("asset", String(NAME), nullable=False),
    Column("onchain", ExactDecimal, nullable=False),
    Column("broker", ExactDecimal, nullable=False),
    Column("in_flight", ExactDecimal, nullable=False),
    Column("onchain_share", ExactDecimal, nullable=True),
    Column("target", ExactDecimal, nullable=False),
    Column("deviation", ExactDecimal, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("broker_stamp_ms", BigInteger, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Index(None, "asset", "id"),
)

REBALANCE_TABLES = (
    rebalance_proposals,
    rebalance_moves,
    rebalance_move_events,
    rebalance_move_steps,
    rebalance_signer_nonces,
    rebalance_switches,
    rebalance_move_costs,
    rebalance_inventory_snapshots,
)

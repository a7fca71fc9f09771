"""The tokenized-equity hedger's tables (migration 0012), beside `tables.py` and under its
rules, except for columns that change, each for a stated reason:

- the checkpoint and the kept block hashes follow the chain;
- a broker order's row holds its latest state and open slot (every state is also appended to
  `equity_broker_order_events`);
- a fill's `covered_*` and `is_open` columns, and each symbol's nets in `equity_positions`,
  keep the open remainders and exposures readable in O(open pieces) without adding decimals in
  SQL (SQLite cannot add them exactly); the allocations and fills stay the truth;
- a reorg marks a fill reverted and its allocations released (`*_at_ms`), never deletes them.

Shares and quantities are positive with a `side` beside them; signs are derived in code.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from pegkeeper.adapters.store.tables import ID, NAME, metadata
from pegkeeper.adapters.store.types import ExactDecimal, RowId

HASH = 66  # 0x + 64 hex digits
ADDRESS = 42  # 0x + 40 hex digits
_LIVE = text("reverted_at_ms IS NULL")

# The last block read completely: one row.
equity_checkpoint = Table(
    "equity_checkpoint",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(HASH), nullable=False),
    Column("block_timestamp_s", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# The hashes of processed blocks near the head, re-checked on every poll for reorgs.
equity_block_hashes = Table(
    "equity_block_hashes",
    metadata,
    Column("block_number", BigInteger, primary_key=True, autoincrement=False),
    Column("block_hash", String(HASH), nullable=False),
)

# Raindex fills. A fill id is unique among live fills only: a transaction that a reorg
# dropped and the chain then mined again may keep its (tx hash, log index), and comes back as
# a new row beside the reverted one. A reverted fill keeps the coverage it had then.
equity_onchain_fills = Table(
    "equity_onchain_fills",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("fill_id", String(ID), nullable=False),
    Column("symbol", String(NAME), nullable=False),
    Column("generation", String(NAME), nullable=False),
    Column("side", String(NAME), nullable=False),
    Column("shares", ExactDecimal, nullable=False),
    Column("usdc", ExactDecimal, nullable=False),
    Column("token", String(ADDRESS), nullable=False),
    Column("shares_per_token", ExactDecimal, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(HASH), nullable=False),
    Column("block_timestamp_s", BigInteger, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("tx_hash", String(HASH), nullable=False),
    Column("covered_shares", ExactDecimal, nullable=False),
    Column("is_open", Boolean, nullable=False),  # live and not fully covered
    Column("recorded_at_ms", BigInteger, nullable=False),
    Column("reverted_at_ms", BigInteger, nullable=True),
    CheckConstraint("side IN ('bought', 'sold')", name="side_known"),
    CheckConstraint("log_index >= 0", name="log_index_not_negative"),
    Index(
        "uq_equity_onchain_fills_live_fill_id",
        "fill_id",
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    ),
    Index(None, "symbol", "block_number", "log_index"),
    Index(None, "block_number"),
    Index(None, "symbol", "is_open"),
)

# Logs of the orderbook that are not hedgeable fills, each with its reason.
equity_skipped_logs = Table(
    "equity_skipped_logs",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(HASH), nullable=False),
    Column("block_timestamp_s", BigInteger, nullable=False),
    Column("tx_hash", String(HASH), nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("reason", String(NAME), nullable=False),
    Column("detail", Text, nullable=False),
    Column("recorded_at_ms", BigInteger, nullable=False),
    Column("reverted_at_ms", BigInteger, nullable=True),
    UniqueConstraint("block_hash", "log_index"),
    Index(None, "block_number"),
)

# One row per symbol: the nets of its live fills, and the row every write that allocates
# between the symbol's fills locks first (`version` is bumped), so that two writers never
# cover the same remainder.
equity_positions = Table(
    "equity_positions",
    metadata,
    Column("symbol", String(NAME), primary_key=True),
    Column("onchain_net", ExactDecimal, nullable=False),
    Column("broker_net", ExactDecimal, nullable=False),
    Column("version", BigInteger, nullable=False),
)

# A broker order: its intent once, its current state (history in the events below), and
# `open_slot`, the symbol while the order is not final and NULL once it is. The slot is
# unique: the database refuses a second open order for a symbol.
equity_broker_orders = Table(
    "equity_broker_orders",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("client_order_id", String(ID), nullable=False, unique=True),
    Column("symbol", String(NAME), nullable=False),
    Column("side", String(NAME), nullable=False),
    Column("quantity", ExactDecimal, nullable=False),
    Column("order_type", String(NAME), nullable=False),
    Column("limit_price_usd", ExactDecimal, nullable=True),
    Column("extended_hours", Boolean, nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("state", String(NAME), nullable=False),
    Column("broker_order_id", String(ID), nullable=False),
    Column("message", Text, nullable=False),
    Column("filled_quantity", ExactDecimal, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("open_slot", String(NAME), nullable=True, unique=True),
    CheckConstraint("side IN ('buy', 'sell')", name="side_known"),
    CheckConstraint("open_slot IS NULL OR open_slot = symbol", name="slot_is_symbol"),
    Index(None, "symbol", "id"),
)

# Every state an order went through, appended (the order's row holds the latest).
equity_broker_order_events = Table(
    "equity_broker_order_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("client_order_id", String(ID), nullable=False),
    Column("state", String(NAME), nullable=False),
    Column("broker_order_id", String(ID), nullable=False),
    Column("filled_quantity", ExactDecimal, nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["client_order_id"],
        ["equity_broker_orders.client_order_id"],
        name="fk_equity_broker_order_events_order",
    ),
    Index(None, "client_order_id", "id"),
)

equity_broker_fills = Table(
    "equity_broker_fills",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column(
        "client_order_id",
        String(ID),
        ForeignKey("equity_broker_orders.client_order_id"),
        nullable=False,
    ),
    Column("fill_id", String(ID), nullable=False),
    Column("symbol", String(NAME), nullable=False),
    Column("side", String(NAME), nullable=False),
    Column("quantity", ExactDecimal, nullable=False),
    Column("price_usd", ExactDecimal, nullable=False),
    Column("fee_usd", ExactDecimal, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("covered_shares", ExactDecimal, nullable=False),
    Column("is_open", Boolean, nullable=False),  # not fully covered
    Column("recorded_at_ms", BigInteger, nullable=False),
    CheckConstraint("side IN ('buy', 'sell')", name="side_known"),
    UniqueConstraint("client_order_id", "fill_id"),
    Index(None, "symbol", "is_open"),
    Index(None, "ts_ms"),
)

# `shares` of one broker fill covering one onchain fill (by its row: a fill id may return
# after a reorg). Released, not deleted, when the onchain fill is reverted; a pair is
# allocated at most once, since a reverted fill never comes back to life.
equity_allocations = Table(
    "equity_allocations",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("client_order_id", String(ID), nullable=False),
    Column("broker_fill_id", String(ID), nullable=False),
    Column("onchain_fill_row", RowId, ForeignKey("equity_onchain_fills.id"), nullable=False),
    Column("onchain_fill_id", String(ID), nullable=False),
    Column("symbol", String(NAME), nullable=False),
    Column("shares", ExactDecimal, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("released_at_ms", BigInteger, nullable=True),
    ForeignKeyConstraint(
        ["client_order_id", "broker_fill_id"],
        ["equity_broker_fills.client_order_id", "equity_broker_fills.fill_id"],
        name="fk_equity_allocations_broker_fill",
    ),
    UniqueConstraint(
        "client_order_id", "broker_fill_id", "onchain_fill_row", name="uq_equity_allocations_pair"
    ),
    Index(None, "onchain_fill_row"),
)

# FIFO P&L per trade with its symbol's running totals; a bucket the trade did not touch is
# NULL. Rebuilt by replay from a time on (`replace_pnl_from`).
equity_pnl_entries = Table(
    "equity_pnl_entries",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("trade_id", String(ID), nullable=False, unique=True),
    Column("symbol", String(NAME), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("counter_trade_usd", ExactDecimal, nullable=True),
    Column("onchain_netting_usd", ExactDecimal, nullable=True),
    Column("directional_exposure_usd", ExactDecimal, nullable=True),
    Column("fee_usd", ExactDecimal, nullable=False),
    Column("position_after", ExactDecimal, nullable=False),
    Column("realised_total_usd", ExactDecimal, nullable=False),
    Column("fees_total_usd", ExactDecimal, nullable=False),
    Index(None, "ts_ms"),
)

EQUITY_TABLES = (
    equity_checkpoint,
    equity_block_hashes,
    equity_onchain_fills,
    equity_skipped_logs,
    equity_positions,
    equity_broker_orders,
    equity_broker_order_events,
    equity_broker_fills,
    equity_allocations,
    equity_pnl_entries,
)

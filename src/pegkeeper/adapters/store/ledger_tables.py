"""The tables of the polled ledger sources (specs/galoy.md), beside `tables.py` and under the
same rules: a transaction is stored once as received, a trade found wrong is reversed by a
correction, never changed."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from pegkeeper.adapters.store.tables import ID, NAME, metadata
from pegkeeper.adapters.store.types import RowId

# A Galoy (Blink) dealer account's transactions, each stored once as received (`raw`). One that
# could not be read keeps its reason in `rejected_reason` and takes no part in pairing.
galoy_transactions = Table(
    "galoy_transactions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("tx_id", String(ID), nullable=False, unique=True),
    Column("cursor", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=True),  # Galoy's createdAt
    Column("direction", String(NAME), nullable=True),
    Column("memo", Text, nullable=True),
    Column("status", String(NAME), nullable=True),
    Column("settlement_amount", BigInteger, nullable=True),  # sats or cents, signed
    Column("settlement_currency", String(NAME), nullable=True),
    Column("settlement_via", String(NAME), nullable=True),
    Column("usd_cents", BigInteger, nullable=True),
    Column("rejected_reason", Text, nullable=True),
    Column("raw", Text, nullable=False),
    Column("stored_at_ms", BigInteger, nullable=False),
    Index(None, "created_at_ms"),
)

# Two legs paired into a user trade; `trade_id` is also its liability event's id. A trade found
# wrong is never changed: a correction row reverses it (with its own liability event).
galoy_trades = Table(
    "galoy_trades",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("trade_id", String(ID), nullable=False, unique=True),
    Column(
        "btc_tx_id", String(ID), ForeignKey("galoy_transactions.tx_id"), nullable=False, index=True
    ),
    Column(
        "usd_tx_id", String(ID), ForeignKey("galoy_transactions.tx_id"), nullable=False, index=True
    ),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("usd_cents", BigInteger, nullable=False),  # the dealer's USD leg, signed
    Column("sats", BigInteger, nullable=False),  # the dealer's BTC leg, signed
    Column("matched_by", String(NAME), nullable=False),
    Column("paired_at_ms", BigInteger, nullable=False),
)

galoy_corrections = Table(
    "galoy_corrections",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("correction_id", String(ID), nullable=False, unique=True),
    Column(
        "trade_id", String(ID), ForeignKey("galoy_trades.trade_id"), nullable=False, unique=True
    ),
    Column("reversed_in_ledger", Boolean, nullable=False),  # false: the trade was never posted
    Column("created_at_ms", BigInteger, nullable=False),
)

# Not money: small indexes so that a poll reads O(open items) however long the history.
# Transactions waiting for their other leg (with the time of their last re-check) ...
galoy_unpaired = Table(
    "galoy_unpaired",
    metadata,
    Column("tx_id", String(ID), ForeignKey("galoy_transactions.tx_id"), primary_key=True),
    Column("checked_at_ms", BigInteger, nullable=False),
)

# ... and liability entries (trades and corrections) not yet posted to the ledger; a row is
# deleted once its event is in the ledger.
galoy_unposted = Table(
    "galoy_unposted",
    metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("delta_cents", BigInteger, nullable=False),
    Column("memo", Text, nullable=False),
    Column("order_ms", BigInteger, nullable=False),  # the trade's time: posted oldest first
    Column("created_at_ms", BigInteger, nullable=False),
)

# Not money: how far each polled ledger source has read, and whether it is healthy.
ledger_sources = Table(
    "ledger_sources",
    metadata,
    Column("source", String(NAME), primary_key=True),
    Column("cursor", Text, nullable=True),
    Column("has_more", Boolean, nullable=False),
    Column("last_poll_ms", BigInteger, nullable=True),
    Column("last_error", Text, nullable=False),
    Column("stopped", Boolean, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    # reads failed in a row since the last good one
    Column("failed_polls", Integer, nullable=False, server_default=text("0")),
)


LEDGER_TABLES = (
    galoy_transactions,
    galoy_trades,
    galoy_corrections,
    galoy_unpaired,
    galoy_unposted,
    ledger_sources,
)

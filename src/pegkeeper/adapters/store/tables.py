"""The schema. Every row that moves money is inserted once and never updated or deleted.

Times are integer milliseconds since the epoch, cents are integers, and every other amount is
an `ExactDecimal`. `migrations/versions` must create exactly this schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from pegkeeper.adapters.store.types import ExactDecimal, RowId
from pegkeeper.domain.venue import PRIMARY_VENUE

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = 128  # event ids, decision ids, fill ids, correlation ids
NAME = 64  # instrument ids, sources, states, currencies
_PRIMARY = text(f"'{PRIMARY_VENUE}'")  # rows written before there were several venues

liability_events = Table(
    "liability_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(ID), nullable=False, unique=True),
    Column("delta_cents", BigInteger, nullable=False),
    Column("balance_after_cents", BigInteger, nullable=False),
    Column("memo", Text, nullable=False),
    Column("source", String(NAME), nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    CheckConstraint("seq >= 1", name="seq_positive"),
    CheckConstraint("balance_after_cents >= 0", name="balance_not_negative"),
)

hedge_decisions = Table(
    "hedge_decisions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("decision_id", String(ID), nullable=False, unique=True),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("trigger", String(NAME), nullable=False),
    Column("policy", String(NAME), nullable=False),
    Column("rule", Text, nullable=False),
    Column("action", String(NAME), nullable=False),
    Column("size_contracts", ExactDecimal, nullable=False),
    Column("instrument_id", String(NAME), nullable=False),
    Column("liability_cents", BigInteger, nullable=False),
    Column("exposure_cents", BigInteger, nullable=False),
    Column("position_contracts", ExactDecimal, nullable=False),
    Column("hedge_ratio", ExactDecimal, nullable=True),
    Column("btc_price_usd", ExactDecimal, nullable=False),
)

# Every liability event a decision answers (all events since the leg's previous decision), so
# that each event's audit trail reaches the decision and the orders that covered it.
decision_liability_events = Table(
    "decision_liability_events",
    metadata,
    Column(
        "decision_id",
        String(ID),
        ForeignKey("hedge_decisions.decision_id"),
        primary_key=True,
    ),
    Column("liability_seq", BigInteger, ForeignKey("liability_events.seq"), primary_key=True),
    Column("leg", String(NAME), nullable=False),
    Index(None, "liability_seq"),
    Index(None, "leg", "liability_seq"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("client_order_id", String(32), nullable=False, unique=True),
    Column("instrument_id", String(NAME), nullable=False),
    Column("kind", String(NAME), nullable=False),
    Column("side", String(NAME), nullable=True),
    Column("size_contracts", ExactDecimal, nullable=False),
    Column("decision_id", String(ID), nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("limit_price_usd", ExactDecimal, nullable=True),  # limit and post-only orders
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column(
        "client_order_id",
        String(32),
        ForeignKey("orders.client_order_id"),
        nullable=False,
    ),
    Column("state", String(NAME), nullable=False),
    Column("venue_order_id", String(ID), nullable=False),
    Column("filled_contracts", ExactDecimal, nullable=False),
    Column("avg_price_usd", ExactDecimal, nullable=True),
    Column("message", Text, nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    # The latest event of an order is the max id under its client id.
    Index(None, "client_order_id", "id"),
)

# The orders whose latest state is not final, so that finding them stays O(open orders) however
# long the history. A row is deleted in the transaction that appends the order's final state.
# `slot` (the instrument) is unique: a second writer racing the first fails at the insert,
# before any request leaves.
open_orders = Table(
    "open_orders",
    metadata,
    Column(
        "client_order_id",
        String(32),
        ForeignKey("orders.client_order_id"),
        primary_key=True,
    ),
    Column("slot", String(NAME), nullable=False, unique=True),
)

# How many orders each slot has opened. A writer passes the version it read before deciding;
# an order opened on the slot since then makes its decision stale, and its insert is refused.
order_slots = Table(
    "order_slots",
    metadata,
    Column("slot", String(NAME), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

fills = Table(
    "fills",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("fill_id", String(ID), nullable=False, unique=True),
    # No foreign key: a venue may report fills of orders pegkeeper did not place (manual
    # trades, liquidations), and those belong in the audit trail too.
    Column("client_order_id", String(ID), nullable=False, index=True),
    Column("size_contracts", ExactDecimal, nullable=False),
    Column("price_usd", ExactDecimal, nullable=False),
    Column("fee", ExactDecimal, nullable=False),
    Column("fee_currency", String(NAME), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

position_snapshots = Table(
    "position_snapshots",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("instrument_id", String(NAME), nullable=False),
    Column("size_contracts", ExactDecimal, nullable=False),
    Column("avg_price_usd", ExactDecimal, nullable=True),
    Column("mark_price_usd", ExactDecimal, nullable=False),
    Column("exposure_cents", BigInteger, nullable=False),
    Column("liquidation_price_usd", ExactDecimal, nullable=True),
    Column("collateral", ExactDecimal, nullable=False),
    Column("collateral_available", ExactDecimal, nullable=False),
    Column("funding_balance", ExactDecimal, nullable=False),
    Column("leverage", ExactDecimal, nullable=True),
)


# A quote's amounts never change. Its state moves once, open -> accepted, by a conditional update
# in the transaction that appends the `accepted` event and the liability event; quote_events is
# the history, at most one event of each kind per quote.
quotes = Table(
    "quotes",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("quote_id", String(36), nullable=False, unique=True),
    Column("direction", String(NAME), nullable=False),
    Column("immediate_execution", Boolean, nullable=False),
    Column("amount_sats", BigInteger, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("fee_rate", ExactDecimal, nullable=False),
    Column("fee_cents", ExactDecimal, nullable=False),
    Column("book_source", String(NAME), nullable=False),
    Column("book_ts_ms", BigInteger, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("state", String(NAME), nullable=False),
    Column("accepted_at_ms", BigInteger, nullable=True),
    CheckConstraint("amount_sats > 0", name="amount_sats_positive"),
    CheckConstraint("amount_cents > 0", name="amount_cents_positive"),
)

quote_events = Table(
    "quote_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("quote_id", String(36), ForeignKey("quotes.quote_id"), nullable=False),
    Column("kind", String(NAME), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    UniqueConstraint("quote_id", "kind"),
)


def _peg_stats_table(name: str) -> Table:
    """Statistics, not money: floats. One row per computed price (raw) or per minute."""
    return Table(
        name,
        metadata,
        Column("id", RowId, primary_key=True, autoincrement=True),
        Column("symbol", String(NAME), nullable=False),
        Column("ts_ms", BigInteger, nullable=False),
        Column("price", Float, nullable=False),
        Column("direct", Float, nullable=True),
        Column("bridged", Float, nullable=True),
        Column("rmse", Float, nullable=False),
        Column("stdev", Float, nullable=False),
        Column("drawdown", Float, nullable=False),
        Column("rmse_score", Float, nullable=False),
        Column("stdev_score", Float, nullable=False),
        Column("drawdown_score", Float, nullable=False),
        Column("score", Float, nullable=False),
        Index(None, "symbol", "ts_ms"),
    )


# The audit trail of what people did by hand: who, when, what, on what, and what came of it.
operator_actions = Table(
    "operator_actions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("action_id", String(ID), nullable=False, unique=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("operator", String(NAME), nullable=False),
    Column("action", String(NAME), nullable=False),
    Column("target", String(ID), nullable=False),
    Column("note", Text, nullable=False),
    Column("result", String(NAME), nullable=False),
    Column("detail", Text, nullable=False),
    Column("correlation_id", String(ID), nullable=False, index=True),
    Column("client_address", String(ID), nullable=False),
)

peg_stats = _peg_stats_table("peg_stats")
peg_stats_1m = _peg_stats_table("peg_stats_1m")

# The collateral manager's trail (migration 0005). Operations follow the orders' pattern: the
# intent once, each state appended, an index of the open ones.
funding_decisions = Table(
    "funding_decisions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("decision_id", String(ID), nullable=False, unique=True),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("trigger", String(NAME), nullable=False),
    Column("policy", String(NAME), nullable=False),
    Column("rule", Text, nullable=False),
    Column("action", String(NAME), nullable=False),
    Column("amount", ExactDecimal, nullable=False),
    Column("currency", String(NAME), nullable=False),
    Column("liability_cents", BigInteger, nullable=False),
    Column("exposure_cents", BigInteger, nullable=False),
    Column("collateral", ExactDecimal, nullable=False),
    Column("funding_balance", ExactDecimal, nullable=False),
    Column("price_usd", ExactDecimal, nullable=False),
    Column("leverage", ExactDecimal, nullable=True),
    Column("outcome", Text, nullable=False),
    Column("venue", String(NAME), nullable=False, server_default=_PRIMARY),
)

funding_operations = Table(
    "funding_operations",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("operation_id", String(32), nullable=False, unique=True),
    Column("kind", String(NAME), nullable=False),
    Column("currency", String(NAME), nullable=False),
    Column("amount", ExactDecimal, nullable=False),
    Column("fee", ExactDecimal, nullable=False),
    Column("address", Text, nullable=False),
    Column("decision_id", String(ID), nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("venue", String(NAME), nullable=False, server_default=_PRIMARY),
)

funding_operation_events = Table(
    "funding_operation_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column(
        "operation_id",
        String(32),
        ForeignKey("funding_operations.operation_id"),
        nullable=False,
    ),
    Column("state", String(NAME), nullable=False),
    Column("venue_id", String(ID), nullable=False),
    Column("tx_id", String(ID), nullable=False),
    Column("message", Text, nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("fee_sats", BigInteger, nullable=True),  # the onchain fee paid for tx_id, when read
    Index(None, "operation_id", "id"),
)

# The operations whose latest state is not final (deleted with the final state); one per
# account and class of operation (`CollateralOperation.slot`), enforced here.
open_funding_operations = Table(
    "open_funding_operations",
    metadata,
    Column(
        "operation_id",
        String(32),
        ForeignKey("funding_operations.operation_id"),
        primary_key=True,
    ),
    Column("slot", String(NAME), nullable=False, unique=True),
)

fee_bumps = Table(
    "fee_bumps",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column(
        "operation_id",
        String(32),
        ForeignKey("funding_operations.operation_id"),
        nullable=False,
        index=True,
    ),
    Column("old_tx_id", String(ID), nullable=False),
    Column("new_tx_id", String(ID), nullable=False),
    Column("old_fee_rate_sat_vb", ExactDecimal, nullable=False),
    Column("new_fee_rate_sat_vb", ExactDecimal, nullable=False),
    Column("leverage", ExactDecimal, nullable=True),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

leverage_snapshots = Table(
    "leverage_snapshots",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("venue", String(NAME), nullable=False),
    Column("currency", String(NAME), nullable=False),
    Column("mark_price_usd", ExactDecimal, nullable=False),
    Column("position_contracts", ExactDecimal, nullable=False),
    Column("notional", ExactDecimal, nullable=False),
    Column("equity", ExactDecimal, nullable=False),
    Column("funding_balance", ExactDecimal, nullable=False),
    Column("leverage", ExactDecimal, nullable=True),
    Column("liquidation_price_usd", ExactDecimal, nullable=True),
    Column("liquidation_source", String(NAME), nullable=False),
    Column("distance_pct", ExactDecimal, nullable=True),
)

# The swap's funding the venue booked in the trading account, once each (its bill id).
funding_payments = Table(
    "funding_payments",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("venue", String(NAME), nullable=False),
    Column("bill_id", String(ID), nullable=False),
    Column("instrument_id", String(NAME), nullable=False),
    Column("currency", String(NAME), nullable=False),
    Column("amount", ExactDecimal, nullable=False),  # received; negative when paid
    Column("ts_ms", BigInteger, nullable=False),
    Column("recorded_at_ms", BigInteger, nullable=False),
    UniqueConstraint("venue", "bill_id"),
    Index(None, "currency", "ts_ms"),
)

alerts_sent = Table(
    "alerts_sent",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("alert_id", String(ID), nullable=False, unique=True),
    Column("kind", String(NAME), nullable=False),
    Column("severity", String(NAME), nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON object of strings
    Column("delivered", Boolean, nullable=False),
    Column("error", Text, nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

hedge_rolls = Table(
    "hedge_rolls",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("roll_id", String(ID), nullable=False, unique=True),
    Column("decision_id", String(ID), ForeignKey("hedge_decisions.decision_id"), nullable=False),
    Column("correlation_id", String(ID), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("from_instrument_id", String(NAME), nullable=False),
    Column("to_instrument_id", String(NAME), nullable=False),
    Column("size_contracts", ExactDecimal, nullable=False),
    Column("from_position_contracts", ExactDecimal, nullable=False),
    Column(
        "open_client_order_id", String(32), ForeignKey("orders.client_order_id"), nullable=False
    ),
    Column(
        "close_client_order_id", String(32), ForeignKey("orders.client_order_id"), nullable=False
    ),
)

ALL_TABLES = (
    liability_events,
    hedge_decisions,
    decision_liability_events,
    orders,
    order_events,
    open_orders,
    order_slots,
    fills,
    position_snapshots,
    peg_stats,
    peg_stats_1m,
    quotes,
    quote_events,
    operator_actions,
    funding_decisions,
    funding_operations,
    funding_operation_events,
    open_funding_operations,
    fee_bumps,
    leverage_snapshots,
    funding_payments,
    alerts_sent,
    hedge_rolls,
)

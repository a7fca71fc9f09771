"""Rows of the equity tables to the domain's records and back, and the checks on what the
callers hand in (each error names the record and what is expected)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pegkeeper.domain.equities.broker import (
    BrokerFill,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
    BrokerOrderType,
)
from pegkeeper.domain.equities.chain import BlockRef, OnchainFill, OnchainSide, SkippedLog
from pegkeeper.domain.equities.ledger import (
    Allocation,
    BrokerFillRecord,
    BrokerOrderRecord,
    OnchainFillRecord,
)
from pegkeeper.domain.equities.pnl import PnlBucket, PnlEntry
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide

ID_LENGTH = 128
NAME_LENGTH = 64


def signed(quantity: Decimal, sign: int) -> Decimal:
    return quantity if sign > 0 else -quantity


def onchain_record(row: Any) -> OnchainFillRecord:
    bought = OnchainSide(row.side) is OnchainSide.BOUGHT
    return OnchainFillRecord(
        fill_id=row.fill_id,
        symbol=row.symbol,
        signed_shares=signed(row.shares, 1 if bought else -1),
        usdc=row.usdc,
        block_number=row.block_number,
        log_index=row.log_index,
        block_timestamp_s=row.block_timestamp_s,
        tx_hash=row.tx_hash,
        reverted=row.reverted_at_ms is not None,
    )


def broker_fill_record(row: Any) -> BrokerFillRecord:
    return BrokerFillRecord(
        client_order_id=row.client_order_id,
        fill_id=row.fill_id,
        symbol=row.symbol,
        signed_quantity=signed(row.quantity, 1 if OrderSide(row.side) is OrderSide.BUY else -1),
        price_usd=row.price_usd,
        fee_usd=row.fee_usd,
        ts_ms=row.ts_ms,
    )


def allocation_record(row: Any) -> Allocation:
    return Allocation(row.client_order_id, row.broker_fill_id, row.onchain_fill_id, row.shares)


def order_record(row: Any) -> BrokerOrderRecord:
    intent = BrokerOrderIntent(
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=OrderSide(row.side),
        quantity=row.quantity,
        created_at_ms=row.created_at_ms,
        order_type=BrokerOrderType(row.order_type),
        limit_price_usd=row.limit_price_usd,
        extended_hours=row.extended_hours,
        correlation_id=row.correlation_id,
    )
    return BrokerOrderRecord(
        intent=intent,
        state=BrokerOrderState(row.state),
        filled_quantity=row.filled_quantity,
        broker_order_id=row.broker_order_id,
        message=row.message,
        updated_at_ms=row.updated_at_ms,
    )


def order_row(intent: BrokerOrderIntent, reason: str) -> dict[str, Any]:
    return {
        "client_order_id": intent.client_order_id,
        "symbol": intent.symbol,
        "side": intent.side.value,
        "quantity": intent.quantity,
        "order_type": intent.order_type.value,
        "limit_price_usd": intent.limit_price_usd,
        "extended_hours": intent.extended_hours,
        "correlation_id": intent.correlation_id,
        "reason": reason,
        "created_at_ms": intent.created_at_ms,
        "state": BrokerOrderState.CREATED.value,
        "broker_order_id": "",
        "message": "",
        "filled_quantity": Decimal(0),
        "updated_at_ms": intent.created_at_ms,
        "open_slot": None,
    }


def onchain_row(fill: OnchainFill, now_ms: int) -> dict[str, Any]:
    ref = fill.ref
    return {
        "fill_id": fill.fill_id,
        "symbol": fill.symbol,
        "generation": fill.generation.value,
        "side": fill.side.value,
        "shares": fill.shares,
        "usdc": fill.usdc,
        "token": fill.token,
        "shares_per_token": fill.shares_per_token,
        "block_number": ref.block_number,
        "block_hash": ref.block_hash,
        "block_timestamp_s": ref.block_timestamp_s,
        "log_index": ref.log_index,
        "tx_hash": ref.tx_hash,
        "covered_shares": Decimal(0),
        "is_open": True,
        "recorded_at_ms": now_ms,
        "reverted_at_ms": None,
    }


def skipped_row(log: SkippedLog, now_ms: int) -> dict[str, Any]:
    ref = log.ref
    return {
        "block_number": ref.block_number,
        "block_hash": ref.block_hash,
        "block_timestamp_s": ref.block_timestamp_s,
        "tx_hash": ref.tx_hash,
        "log_index": ref.log_index,
        "reason": log.reason.value,
        "detail": log.detail,
        "recorded_at_ms": now_ms,
        "reverted_at_ms": None,
    }


def broker_fill_row(
    client_order_id: str, symbol: str, side: OrderSide, fill: BrokerFill, now_ms: int
) -> dict[str, Any]:
    return {
        "client_order_id": client_order_id,
        "fill_id": fill.fill_id,
        "symbol": symbol,
        "side": side.value,
        "quantity": fill.quantity,
        "price_usd": fill.price_usd,
        "fee_usd": fill.fee_usd,
        "ts_ms": fill.ts_ms,
        "covered_shares": Decimal(0),
        "is_open": True,
        "recorded_at_ms": now_ms,
    }


def bucket_column(bucket: PnlBucket) -> str:
    return f"{bucket.value}_usd"


def pnl_row(entry: PnlEntry) -> dict[str, Any]:
    row: dict[str, Any] = {
        "trade_id": entry.trade_id,
        "symbol": entry.symbol,
        "ts_ms": entry.ts_ms,
        "fee_usd": entry.fee_usd,
        "position_after": entry.position_after,
        "realised_total_usd": entry.realised_total_usd,
        "fees_total_usd": entry.fees_total_usd,
    }
    for bucket in PnlBucket:
        row[bucket_column(bucket)] = entry.realised_usd.get(bucket)
    return row


def pnl_record(row: Any) -> PnlEntry:
    realised = {
        bucket: row._mapping[bucket_column(bucket)]
        for bucket in PnlBucket
        if row._mapping[bucket_column(bucket)] is not None
    }
    return PnlEntry(
        trade_id=row.trade_id,
        symbol=row.symbol,
        ts_ms=row.ts_ms,
        realised_usd=realised,
        fee_usd=row.fee_usd,
        position_after=row.position_after,
        realised_total_usd=row.realised_total_usd,
        fees_total_usd=row.fees_total_usd,
    )


# --- checks on input ------------------------------------------------------------------------


def check_range(
    read_to: BlockRef, fills: Sequence[OnchainFill], skipped: Sequence[SkippedLog]
) -> None:
    if read_to.number < 0:
        raise InvalidInput(f"read_to block {read_to.number} is negative: expected >= 0")
    for fill in fills:
        name = f"onchain fill {fill.fill_id}"
        _check_text(name, "symbol", fill.symbol, NAME_LENGTH)
        _check_positive(name, "shares", fill.shares)
        _check_positive(name, "usdc", fill.usdc)
        _check_positive(name, "shares_per_token", fill.shares_per_token)
        _check_log(name, fill.ref.block_number, fill.ref.log_index, read_to)
    for log in skipped:
        _check_log(
            f"skipped log {log.ref.fill_id}", log.ref.block_number, log.ref.log_index, read_to
        )


def check_intent(intent: BrokerOrderIntent) -> None:
    name = f"broker order {intent.client_order_id!r}"
    _check_text(name, "client_order_id", intent.client_order_id, ID_LENGTH)
    _check_text(name, "symbol", intent.symbol, NAME_LENGTH)
    _check_positive(name, "quantity", intent.quantity)
    if intent.order_type is BrokerOrderType.LIMIT:
        if intent.limit_price_usd is None:
            raise InvalidInput(f"{name}: a limit order needs limit_price_usd")
        _check_positive(name, "limit_price_usd", intent.limit_price_usd)


def check_report(report: BrokerOrderReport) -> None:
    name = f"report of broker order {report.client_order_id!r}"
    for fill in report.fills:
        _check_text(f"{name}, fill", "fill_id", fill.fill_id, ID_LENGTH)
        _check_positive(f"{name}, fill {fill.fill_id}", "quantity", fill.quantity)
        _check_finite(f"{name}, fill {fill.fill_id}", "price_usd", fill.price_usd)
        _check_finite(f"{name}, fill {fill.fill_id}", "fee_usd", fill.fee_usd)


def check_pnl(ts_ms: int, entries: Sequence[PnlEntry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.ts_ms < ts_ms:
            raise InvalidInput(
                f"P&L entry {entry.trade_id!r} at {entry.ts_ms} ms is before the replaced "
                f"period: expected ts_ms >= {ts_ms}"
            )
        if entry.trade_id in seen:
            raise InvalidInput(f"P&L entry {entry.trade_id!r} appears twice: expected once")
        seen.add(entry.trade_id)


def _check_log(name: str, block_number: int, log_index: int, read_to: BlockRef) -> None:
    if block_number > read_to.number:
        raise InvalidInput(
            f"{name} is in block {block_number}, past the range read to {read_to.number}"
        )
    if block_number < 0 or log_index < 0:
        raise InvalidInput(f"{name}: block {block_number}, log {log_index}: expected >= 0")


def _check_text(name: str, field: str, value: str, max_length: int) -> None:
    if not value or len(value) > max_length:
        raise InvalidInput(f"{name}: {field} {value!r}: expected 1 to {max_length} characters")


def _check_finite(name: str, field: str, value: Decimal) -> None:
    if not value.is_finite():
        raise InvalidInput(f"{name}: {field} {value}: expected a finite number")


def _check_positive(name: str, field: str, value: Decimal) -> None:
    if not (value.is_finite() and value > 0):
        raise InvalidInput(f"{name}: {field} {value}: expected a number > 0")

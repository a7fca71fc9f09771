"""Equity records built by hand for the store's tests: fills in blocks whose time is
T0_S + 12 s per block, broker intents and reports."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from pegkeeper.domain.equities.broker import (
    BrokerFill,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
)
from pegkeeper.domain.equities.chain import (
    BlockRef,
    Generation,
    LogRef,
    OnchainFill,
    OnchainSide,
    SkippedLog,
    SkipReason,
)
from pegkeeper.domain.orders import OrderSide
from pegkeeper.ports.equities import EquityRepository

T0_S = 1_700_000_000
BLOCK_S = 12
TOKEN = "0x" + "ab" * 20


def D(value: str) -> Decimal:
    return Decimal(value)


def block_hash(number: int, fork: str = "") -> str:
    return "0x" + hashlib.sha256(f"{fork}block{number}".encode()).hexdigest()


def block_time_s(number: int) -> int:
    return T0_S + BLOCK_S * number


def block_ms(number: int) -> int:
    return block_time_s(number) * 1000


def head(number: int, fork: str = "") -> BlockRef:
    return BlockRef(number, block_hash(number, fork), block_time_s(number))


def tx_hash(name: str) -> str:
    return "0x" + hashlib.sha256(name.encode()).hexdigest()


def log_ref(block: int, log_index: int, tx: str = "", fork: str = "") -> LogRef:
    return LogRef(
        block_number=block,
        block_hash=block_hash(block, fork),
        tx_hash=tx_hash(tx or f"tx{block}.{log_index}"),
        log_index=log_index,
        block_timestamp_s=block_time_s(block),
    )


def onchain(
    block: int,
    log_index: int,
    side: OnchainSide,
    shares: str,
    usdc: str,
    *,
    symbol: str = "AAPL",
    tx: str = "",
    fork: str = "",
) -> OnchainFill:
    return OnchainFill(
        ref=log_ref(block, log_index, tx, fork),
        generation=Generation.V5,
        symbol=symbol,
        side=side,
        shares=D(shares),
        usdc=D(usdc),
        token=TOKEN,
    )


def sold(block: int, log_index: int, shares: str, usdc: str, **kw: str) -> OnchainFill:
    """The maker sold stock onchain: its position falls (the hedge buys)."""
    return onchain(block, log_index, OnchainSide.SOLD, shares, usdc, **kw)


def bought(block: int, log_index: int, shares: str, usdc: str, **kw: str) -> OnchainFill:
    return onchain(block, log_index, OnchainSide.BOUGHT, shares, usdc, **kw)


def skipped(block: int, log_index: int, reason: SkipReason, detail: str = "") -> SkippedLog:
    return SkippedLog(log_ref(block, log_index), reason, detail or reason.value)


def intent(
    client_order_id: str,
    side: OrderSide,
    quantity: str,
    *,
    symbol: str = "AAPL",
    created_at_ms: int = block_ms(100),
) -> BrokerOrderIntent:
    return BrokerOrderIntent(
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        quantity=D(quantity),
        created_at_ms=created_at_ms,
        correlation_id=f"c-{client_order_id}",
    )


def execution(fill_id: str, quantity: str, price: str, ts_ms: int, fee: str = "0") -> BrokerFill:
    return BrokerFill(fill_id, D(quantity), D(price), ts_ms, D(fee))


def report(
    client_order_id: str, state: BrokerOrderState, *fills: BrokerFill, message: str = ""
) -> BrokerOrderReport:
    return BrokerOrderReport(
        client_order_id=client_order_id,
        state=state,
        broker_order_id=f"b-{client_order_id}",
        fills=fills,
        message=message,
    )


async def ingest(
    repo: EquityRepository,
    to_block: int,
    *fills: OnchainFill,
    skipped_logs: tuple[SkippedLog, ...] = (),
    keep: int = 5,
    fork: str = "",
) -> list[OnchainFill]:
    """Records a range read to `to_block`, keeping the hashes of its last `keep` blocks."""
    first = max(0, to_block - keep + 1)
    hashes = {n: block_hash(n, fork) for n in range(first, to_block + 1)}
    return await repo.record_range(
        head(to_block, fork), fills, skipped_logs, hashes, keep_from_block=first
    )

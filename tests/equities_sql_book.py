"""The book of tests/equities_book.py written into the SQL equity store through its
own write methods, in the order it happened: the store allocates the broker fills and keeps
the exposures; the P&L service (services.equities.pnl) replays and stores the P&L."""

from __future__ import annotations

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
from pegkeeper.domain.equities.ledger import BrokerFillRecord, OnchainFillRecord
from pegkeeper.domain.orders import OrderSide
from pegkeeper.ports import EquityRepository
from tests.equities_book import E1, E2, F1, F2, F3, F4, F5, F6, F7, NOW_MS, NOW_S

TOKENS = {"AAPL": "0x" + "aa" * 20, "TSLA": "0x" + "bb" * 20, "MSFT": "0x" + "cc" * 20}


def block_hash(number: int) -> str:
    return "0x" + f"{number:064x}"


def fill_of(record: OnchainFillRecord) -> OnchainFill:
    ref = LogRef(
        record.block_number,
        block_hash(record.block_number),
        record.tx_hash,
        record.log_index,
        record.block_timestamp_s,
    )
    bought = record.signed_shares > 0
    return OnchainFill(
        ref=ref,
        generation=Generation.V5,
        symbol=record.symbol,
        side=OnchainSide.BOUGHT if bought else OnchainSide.SOLD,
        shares=abs(record.signed_shares),
        usdc=record.usdc,
        token=TOKENS[record.symbol],
    )


def skipped(reason: SkipReason, count: int, first_block: int) -> list[SkippedLog]:
    return [
        SkippedLog(
            LogRef(
                first_block + i,
                block_hash(first_block + i),
                "0x" + f"{first_block + i:064x}",
                7,
                NOW_S - 3_000 + i,
            ),
            reason,
            "a log of someone else's order" if reason is SkipReason.NOT_OUR_ORDER else "0xdead",
        )
        for i in range(count)
    ]


def block(number: int, ago_s: int) -> BlockRef:
    return BlockRef(number, block_hash(number), NOW_S - ago_s)


async def write_book(repository: EquityRepository) -> None:
    logs = skipped(SkipReason.NOT_OUR_ORDER, 12, 200) + skipped(SkipReason.UNKNOWN_TOKEN, 2, 300)
    first = [fill_of(f) for f in (F5, F7, F1, F2, F3)]
    await repository.record_range(block(1000, 600), first, logs, {}, keep_from_block=0)
    pk1 = intent("pkaapl0001", "1", 595_000)
    await repository.open_broker_order(pk1, "AAPL short 1.3")
    filled = BrokerOrderReport("pkaapl0001", BrokerOrderState.FILLED, "dry-1", (broker(E1),))
    await repository.record_broker_report(filled, E1.ts_ms)
    second = [fill_of(f) for f in (F4, F6)]
    await repository.record_range(block(1290, 20), second, [], {}, keep_from_block=0)
    pk2 = intent("pkaapl0002", "0.8", 115_000)
    await repository.open_broker_order(pk2, "AAPL short 0.8")
    working = BrokerOrderReport("pkaapl0002", BrokerOrderState.WORKING, "dry-2", (broker(E2),))
    await repository.record_broker_report(working, E2.ts_ms)


def intent(client_order_id: str, quantity: str, ago_ms: int) -> BrokerOrderIntent:
    return BrokerOrderIntent(
        client_order_id, "AAPL", OrderSide.BUY, Decimal(quantity), NOW_MS - ago_ms
    )


def broker(fill: BrokerFillRecord) -> BrokerFill:
    return BrokerFill(fill.fill_id, fill.signed_quantity, fill.price_usd, fill.ts_ms, fill.fee_usd)

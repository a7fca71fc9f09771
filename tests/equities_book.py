"""The equity hedger as operators see it, over a book of fills whose numbers are worked out by
hand below: its records, fakes of the store's read side and of the running services, and the
view over them (tests/equities_sql_book.py writes the same book into the SQL store).

The book, at NOW_MS (times in seconds before it):

AAPL, sold onchain and bought back at the broker:
  -900  f1 sold 0.3 for 45.00 USDC (150)      block  850
  -840  f2 sold 0.4 for 60.40 USDC (151)      block  880
  -600  f3 sold 0.6 for 89.40 USDC (149)      block 1000
  -590  pkaapl0001 buys 1 at 148.5 (fee 0.01): covers f1 0.3, f2 0.4, f3 0.3
  -120  f4 sold 0.5 for 76.00 USDC (152)      block 1240
  -115  pkaapl0002 buys 0.8, working
   -60  its fill e2: 0.5 at 151 (fee 0.005): covers f3 0.3, f4 0.2
  onchain net -1.8, hedged +1.5, pending +0.3, exposure -0.3 (-45.60 USD at 152),
  open since f4: 120 s.
  FIFO: e1 closes 0.3@150 (+0.45, 310 s old: directional), 0.4@151 (+1.00, counter trade),
  0.3@149 (+0.15, counter trade); e2 closes 0.3@149 (-0.60, 540 s old: directional) and
  0.2@152 (+0.20, counter trade). Realised 1.20: counter trade 1.35, directional -0.15.
TSLA, bought onchain, paused by alice:
  -3600 f5 bought 2 for 400 USDC (200)         block  100
  -1800 f7 sold 0.5 for 105 USDC (210)         block  400: onchain netting +5.00
  exposure +1.5 (315.00 USD at 210), open for 3600 s; marked: 1.5 * (210 - 200) = 15.00.
MSFT: -30 f6 bought 0.004 for 1.60 USDC (400), block 1285: below the hedger's minimum.
NVDA: configured, never traded.

Totals: realised 6.20, fees 0.015, net 6.185, unrealised 15.00, total 21.185.
Chain: checkpoint block 1290 (20 s ago), cutoff 1296 (8 s ago): 6 blocks, 12 s behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.equities.allocation import LedgerBreak
from pegkeeper.domain.equities.broker import BrokerOrderIntent, BrokerOrderState
from pegkeeper.domain.equities.chain import BlockRef
from pegkeeper.domain.equities.ledger import (
    Allocation,
    BrokerFillRecord,
    BrokerOrderRecord,
    FillCover,
    OnchainFillRecord,
    SymbolExposure,
)
from pegkeeper.domain.equities.pnl import PnlBucket, PnlEntry
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.views.equities import EquitiesView, EquityReads
from tests.web_support import START_MS

NOW_MS = START_MS
NOW_S = NOW_MS // 1000
SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA")
D = Decimal
COUNTER, NETTING, DIRECTIONAL = (
    PnlBucket.COUNTER_TRADE,
    PnlBucket.ONCHAIN_NETTING,
    PnlBucket.DIRECTIONAL,
)


def tx(n: int) -> str:
    return "0x" + f"{n:02x}" * 32


def onchain(n: int, symbol: str, shares: str, usdc: str, block: int, log: int, ago_s: int) -> Any:
    return OnchainFillRecord(
        fill_id=f"{tx(n)}:{log}",
        symbol=symbol,
        signed_shares=D(shares),
        usdc=D(usdc),
        block_number=block,
        log_index=log,
        block_timestamp_s=NOW_S - ago_s,
        tx_hash=tx(n),
    )


F1 = onchain(0x11, "AAPL", "-0.3", "45.000000", 850, 1, 900)
F2 = onchain(0x12, "AAPL", "-0.4", "60.400000", 880, 0, 840)
F3 = onchain(0x13, "AAPL", "-0.6", "89.400000", 1000, 2, 600)
F4 = onchain(0x14, "AAPL", "-0.5", "76.000000", 1240, 0, 120)
F5 = onchain(0x15, "TSLA", "2", "400.000000", 100, 0, 3600)
F7 = onchain(0x17, "TSLA", "-0.5", "105.000000", 400, 3, 1800)
F6 = onchain(0x16, "MSFT", "0.004", "1.600000", 1285, 1, 30)

E1 = BrokerFillRecord("pkaapl0001", "e1", "AAPL", D("1"), D("148.5"), D("0.01"), NOW_MS - 590_000)
E2 = BrokerFillRecord("pkaapl0002", "e2", "AAPL", D("0.5"), D("151"), D("0.005"), NOW_MS - 60_000)


def alloc(broker: BrokerFillRecord, fill: OnchainFillRecord, shares: str) -> Allocation:
    return Allocation(broker.client_order_id, broker.fill_id, fill.fill_id, D(shares))


COVERS = {
    "AAPL": [
        FillCover(F4, ((alloc(E2, F4, "0.2"), E2),)),
        FillCover(F3, ((alloc(E1, F3, "0.3"), E1), (alloc(E2, F3, "0.3"), E2))),
        FillCover(F2, ((alloc(E1, F2, "0.4"), E1),)),
        FillCover(F1, ((alloc(E1, F1, "0.3"), E1),)),
    ],
    "TSLA": [FillCover(F7, ()), FillCover(F5, ())],
    "MSFT": [FillCover(F6, ())],
}

IN_FLIGHT = BrokerOrderRecord(
    intent=BrokerOrderIntent(
        client_order_id="pkaapl0002",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=D("0.8"),
        created_at_ms=NOW_MS - 115_000,
    ),
    state=BrokerOrderState.WORKING,
    filled_quantity=D("0.5"),
    broker_order_id="dry-2",
    updated_at_ms=NOW_MS - 60_000,
)

EXPOSURES = {
    "AAPL": SymbolExposure("AAPL", D("-1.8"), D("1.5"), IN_FLIGHT, NOW_MS - 120_000, D("152")),
    "TSLA": SymbolExposure("TSLA", D("1.5"), D("0"), None, NOW_MS - 3_600_000, D("210")),
    "MSFT": SymbolExposure("MSFT", D("0.004"), D("0"), None, NOW_MS - 30_000, D("400")),
}


def entry(
    trade_id: str,
    symbol: str,
    ago_ms: int,
    realised: dict[PnlBucket, Decimal],
    fee: str,
    position: str,
    total: str,
    fees: str,
) -> PnlEntry:
    return PnlEntry(
        trade_id, symbol, NOW_MS - ago_ms, realised, D(fee), D(position), D(total), D(fees)
    )


PNL_ENTRIES = [
    entry(F5.fill_id, "TSLA", 3_600_000, {}, "0", "2", "0", "0"),
    entry(F7.fill_id, "TSLA", 1_800_000, {NETTING: D("5.00")}, "0", "1.5", "5.00", "0"),
    entry(F1.fill_id, "AAPL", 900_000, {}, "0", "-0.3", "0", "0"),
    entry(F2.fill_id, "AAPL", 840_000, {}, "0", "-0.7", "0", "0"),
    entry(F3.fill_id, "AAPL", 600_000, {}, "0", "-1.3", "0", "0"),
    entry(
        "pkaapl0001/e1",
        "AAPL",
        590_000,
        {COUNTER: D("1.15"), DIRECTIONAL: D("0.45")},
        "0.01",
        "-0.3",
        "1.60",
        "0.01",
    ),
    entry(F4.fill_id, "AAPL", 120_000, {}, "0", "-0.8", "1.60", "0.01"),
    entry(
        "pkaapl0002/e2",
        "AAPL",
        60_000,
        {COUNTER: D("0.20"), DIRECTIONAL: D("-0.60")},
        "0.005",
        "-0.3",
        "1.20",
        "0.015",
    ),
    entry(F6.fill_id, "MSFT", 30_000, {}, "0", "0.004", "0", "0"),
]


@dataclass
class FakeEquityReads:
    """The store's read side over fixed records (ports.equities.EquityRepository's reads)."""

    exposure_of: dict[str, SymbolExposure] = field(default_factory=lambda: dict(EXPOSURES))
    covers: dict[str, list[FillCover]] = field(default_factory=lambda: dict(COVERS))
    entries: list[PnlEntry] = field(default_factory=lambda: list(PNL_ENTRIES))
    skipped: dict[str, int] = field(
        default_factory=lambda: {"not_our_order": 12, "unknown_token": 2}
    )
    last_read: BlockRef | None = field(
        default_factory=lambda: BlockRef(1290, "0x" + "ab" * 32, NOW_S - 20)
    )  # the cutoff, 1296, is 8 s old: 6 blocks and 12 s behind it

    async def checkpoint(self) -> BlockRef | None:
        return self.last_read

    async def exposures(self) -> dict[str, SymbolExposure]:
        return dict(self.exposure_of)

    async def fills_of(self, symbol: str, limit: int) -> list[FillCover]:
        return self.covers.get(symbol, [])[:limit]

    async def skipped_counts(self) -> dict[str, int]:
        return dict(self.skipped)

    async def pnl_entries(self) -> list[PnlEntry]:
        return list(self.entries)


@dataclass(frozen=True)
class FakeSymbolStatus:
    waiting: str = ""
    last_error: str = ""


@dataclass
class FakeHedger:
    """EquityHedger's `status()`: the reasons of its last cycle."""

    statuses: dict[str, FakeSymbolStatus] = field(
        default_factory=lambda: {
            "MSFT": FakeSymbolStatus("below the 2 USD minimum"),
            "TSLA": FakeSymbolStatus("market closed"),
            "AAPL": FakeSymbolStatus("order in flight"),
            "NVDA": FakeSymbolStatus(),
        }
    )

    def status(self) -> dict[str, FakeSymbolStatus]:
        return dict(self.statuses)


@dataclass(frozen=True)
class FakeIngestionFigures:
    cutoff_block: int | None = 1296
    lag_blocks: int | None = 6
    lag_seconds: int | None = 12
    consecutive_failures: int = 1
    last_error: str = "eth_getLogs timed out after 10 s"
    last_success_ms: int | None = NOW_MS - 25_000
    stalled: bool = False


@dataclass
class FakeIngestion:
    """ChainIngestion's `figures()`."""

    now: FakeIngestionFigures = field(default_factory=FakeIngestionFigures)

    def figures(self) -> FakeIngestionFigures:
        return self.now


@dataclass(frozen=True)
class FakeSymbolPnl:
    realised_usd: Decimal
    realised_by_bucket_usd: dict[PnlBucket, Decimal]
    fees_usd: Decimal
    position_shares: Decimal
    unrealised_usd: Decimal | None
    trades: int


def buckets(counter: str = "0", netting: str = "0", directional: str = "0") -> Any:
    return {COUNTER: D(counter), NETTING: D(netting), DIRECTIONAL: D(directional)}


@dataclass
class FakePnl:
    """EquityPnl's `symbols()`: the P&L of the entries above, marked at each symbol's last
    onchain price (AAPL's open short 0.3 at 152, TSLA's long 1.5 from 200 at 210)."""

    figures: dict[str, FakeSymbolPnl] = field(
        default_factory=lambda: {
            "AAPL": FakeSymbolPnl(
                D("1.20"), buckets("1.35", "0", "-0.15"), D("0.015"), D("-0.3"), D("0.00"), 6
            ),
            "MSFT": FakeSymbolPnl(D("0"), buckets(), D("0"), D("0.004"), D("0.000"), 1),
            "TSLA": FakeSymbolPnl(
                D("5.00"), buckets(netting="5.00"), D("0"), D("1.5"), D("15.00"), 2
            ),
        }
    )

    def symbols(self) -> dict[str, FakeSymbolPnl]:
        return dict(self.figures)


@dataclass
class FakeSwitchBoard:
    """EquityControl's interface as the API uses it (`records_actions=False`: the API writes
    the audit trail, the switch board only moves)."""

    clock: ManualClock
    all_symbols: dict[str, Any] = field(default_factory=lambda: {"paused": False})
    symbols: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "AAPL": {"paused": False},
            "MSFT": {"paused": False},
            "NVDA": {"paused": False},
            "TSLA": {
                "paused": True,
                "by": "alice",
                "since_ms": NOW_MS - 7_200_000,
                "note": "earnings call",
            },
        }
    )
    calls: list[tuple[str, str | None, str, str]] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        symbols = {k: dict(v) for k, v in self.symbols.items()}
        return {"global": dict(self.all_symbols), "symbols": symbols}

    async def pause(self, symbol: str | None, by: str, note: str = "") -> None:
        self._set(True, symbol, by, note)

    async def resume(self, symbol: str | None, by: str, note: str = "") -> None:
        self._set(False, symbol, by, note)

    def _set(self, paused: bool, symbol: str | None, by: str, note: str) -> None:
        self.calls.append(("pause" if paused else "resume", symbol, by, note))
        state = {"paused": paused, "by": by, "since_ms": self.clock.now_ms(), "note": note}
        if symbol is None:
            self.all_symbols = state
        else:
            self.symbols[symbol] = state


@dataclass(frozen=True)
class FakeLedgerFigures:
    last_check_ms: int | None = NOW_MS
    breaks: tuple[LedgerBreak, ...] = ()
    last_error: str = ""


@dataclass
class FakeReconciler:
    """LedgerReconciler's `figures()`."""

    now: FakeLedgerFigures = field(default_factory=FakeLedgerFigures)

    def figures(self) -> FakeLedgerFigures:
        return self.now


def book_view(clock: ManualClock, repository: EquityReads | None = None) -> EquitiesView:
    """The view over the book above, with every service reporting."""
    return EquitiesView(
        repository or FakeEquityReads(),
        clock,
        SYMBOLS,
        hedger=FakeHedger(),
        ingestion=FakeIngestion(),
        pnl_source=FakePnl(),
        control=FakeSwitchBoard(clock),
        reconciler=FakeReconciler(),
    )

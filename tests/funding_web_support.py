"""The dashboard's app (tests/web_support.py) with the funding manager's operator action over
funding operations written through the SQL store: in process for the HTTP tests, served over
HTTP for the CLI. The wallet is a stand-in that shows the sends a test gives it.

The records, oldest first: pftr1, a transfer to trading of 0.25 BTC, done; pfold1, a deposit of
0.10000123 BTC, failed; pfheld1, a deposit of 0.50000417 BTC to ADDRESS held for an operator
(its send had no answer and the wallet showed none), correlation id cpfheld1.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from fastapi import FastAPI

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.collateral import (
    CollateralDecisionRecord,
    CollateralOperation,
    OperationKind,
    OperationState,
    OperationUpdate,
    WalletTransaction,
)
from pegkeeper.services.collateral.held import HeldDeposits
from tests.web_support import START_MS, WebWorld, served, web_world

ADDRESS = "bc1qexchangedeposit00000000000000000000000"
HELD = "pfheld1"
HELD_AMOUNT = "0.50000417"
MESSAGE = "the wallet shows no send after 600 s: held for an operator"


@dataclass
class ShownWallet:
    """The operator's wallet as far as settling asks it: its sends by comment."""

    name: str = "bitcoind"
    sent: dict[str, list[WalletTransaction]] = field(default_factory=dict)
    failure: Exception | None = None

    async def find_sent(self, comment: str, since_ms: int) -> list[WalletTransaction]:
        if self.failure is not None:
            raise self.failure
        return list(self.sent.get(comment, []))

    def show(self, comment: str, tx_id: str, replaced_by: str = "") -> None:
        tx = WalletTransaction(tx_id, 50_000_417, 705, Decimal(5), 0, True, replaced_by, comment)
        self.sent.setdefault(comment, []).append(tx)


@dataclass
class FundingWebWorld:
    web: WebWorld
    wallet: ShownWallet

    @property
    def store(self) -> SqlStore:
        return self.web.store


@contextlib.asynccontextmanager
async def funding_web_world(
    tokens: dict[str, str] | None = None, with_wallet: bool = True
) -> AsyncIterator[FundingWebWorld]:
    wallet = ShownWallet()

    def held(store: SqlStore, clock: ManualClock, bus: MemoryBus) -> HeldDeposits:
        chosen = wallet if with_wallet else None
        return HeldDeposits(store, store.operator_actions, chosen, clock, bus)  # type: ignore[arg-type]

    async with web_world(tokens, held_deposits=held) as web:
        await write_records(web.store)
        yield FundingWebWorld(web, wallet)


async def write_records(store: SqlStore) -> None:
    await _operation(store, "pftr1", OperationKind.TRANSFER_TO_TRADING, "0.25", -3_000)
    done = OperationUpdate(OperationState.DONE, venue_id="T1", message="transfer success")
    await store.funding.record_operation_state("pftr1", done, START_MS - 2_900)
    await _operation(store, "pfold1", OperationKind.DEPOSIT, "0.10000123", -2_000)
    failed = OperationUpdate(OperationState.FAILED, message="not processed: refused")
    await store.funding.record_operation_state("pfold1", failed, START_MS - 1_900)
    await _operation(store, HELD, OperationKind.DEPOSIT, HELD_AMOUNT, -1_000)
    held = OperationUpdate(OperationState.HELD, message=MESSAGE)
    await store.funding.record_operation_state(HELD, held, START_MS - 400)


async def _operation(
    store: SqlStore, operation_id: str, kind: OperationKind, amount: str, at_ms: int
) -> None:
    created_ms = START_MS + at_ms
    op = CollateralOperation(
        operation_id=operation_id,
        kind=kind,
        currency="BTC",
        amount=Decimal(amount),
        decision_id=f"d-{operation_id}",
        correlation_id=f"c{operation_id}",
        created_at_ms=created_ms,
        address=ADDRESS if kind is OperationKind.DEPOSIT else "",
    )
    decision = CollateralDecisionRecord(
        decision_id=op.decision_id,
        correlation_id=op.correlation_id,
        created_at_ms=created_ms,
        trigger="periodic",
        policy="stablesats",
        rule="test",
        action=kind.value,
        amount=op.amount,
        currency="BTC",
        liability_cents=3_000_000,
        exposure_cents=-3_000_000,
        collateral=Decimal(1),
        funding_balance=Decimal(0),
        price_usd=Decimal(10_000),
        leverage=None,
        outcome="acted",
    )
    await store.funding.record_decision(decision, op)


@contextlib.contextmanager
def funding_served(wallet: ShownWallet | None = None) -> Iterator[str]:
    """The app of `funding_web_world` served over HTTP on its own thread; yields the base URL.
    `wallet`: filled with the served world's wallet, for the test to show sends in."""

    @contextlib.asynccontextmanager
    async def app() -> AsyncIterator[FastAPI]:
        async with funding_web_world() as world:
            if wallet is not None:
                world.wallet.sent = wallet.sent  # one dict, shared with the test's thread
            yield world.web.app

    with served(app, "funding") as url:
        yield url

"""The dashboard's app (tests/web_support.py) with inventory rebalancing over a hand-worked
book of records written through the rebalancer's SQL store: in process for the HTTP tests,
served over HTTP for the CLI and the browser.

The book, at START_MS (every number worked by hand):
- inventory: AAPL onchain 30, broker 70 -> share 30 / 100 = 0.3 against 0.5 +- 0.05 (band
  0.45-0.55): outside, 0.2 below the target. TSLA onchain 10, broker 8, 2 in flight to the
  chain -> (10 + 2) / 20 = 0.6 against 0.5 +- 0.2 (0.3-0.7): inside. USD onchain 4000, broker
  6000 -> 0.4 against 0.6 +- 0.05 (0.55-0.65): outside.
- proposals: p-aapl, mint 20 AAPL (0.5 x 100 - 30), and p-cash, 2000 USD to the chain
  (0.6 x 10000 - 4000), both proposed; p-tsla approved by alice and executing as m-tsla.
- moves: m-tsla, a mint of 2 TSLA at `accepted` (request req-tsla-1, tokenization request
  tok-77), waiting for `tokens_received` (4 h from its step); m-msft, a redeem of 5 MSFT stuck
  in redeem_unmatched after its tokens went to the redemption wallet (tx 0x..02), gas 0.03 +
  0.04 = 0.07 USD; m-aapl-0, a mint of 20 AAPL the broker rejected (mint_rejected); m-aapl-1,
  a mint of 10 AAPL completed, fee 0.50 + gas 0.12 = 0.62 USD.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal

from fastapi import FastAPI

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.api.http.rebalancing import RebalancingApi
from pegkeeper.domain.equities.inventory import CASH_ASSET, Direction
from pegkeeper.domain.equities.move_records import (
    CostKind,
    IntentStatus,
    InventorySnapshot,
    MoveCost,
    NewMove,
)
from pegkeeper.domain.equities.moves import Halt, MoveKind, MoveRoute, MoveStep
from pegkeeper.domain.equities.proposals import Proposal
from pegkeeper.domain.equities.transfers import SignedTx
from pegkeeper.ports import RebalanceRepository
from pegkeeper.services.views.rebalancing import RebalancingView
from tests.web_support import START_MS, WebWorld, served, web_world

D = Decimal
S = MoveStep
ASSETS = ("AAPL", "TSLA", CASH_ASSET)
SIGNER = "0x" + "5a" * 20
MINUTE_MS = 60_000
PLAIN = MoveRoute(wrapped=False)
AAPL_REASON = "onchain share 0.3 is outside 0.5 +- 0.05 (onchain 30, broker 70 shares)"


def tx(n: int) -> SignedTx:
    return SignedTx(f"0x{n:064x}", SIGNER, n, 10, f"0x{n:04x}f86c")


@dataclass
class RebalancingWorld:
    web: WebWorld
    api: RebalancingApi

    @property
    def repository(self) -> RebalanceRepository:
        return self.web.store.rebalancing


@contextlib.asynccontextmanager
async def rebalancing_world(
    tokens: dict[str, str] | None = None,
) -> AsyncIterator[RebalancingWorld]:
    made: list[RebalancingApi] = []

    def api(store: SqlStore, clock: ManualClock, bus: MemoryBus) -> RebalancingApi:
        view = RebalancingView(store.rebalancing, clock, store.operator_actions, ASSETS)
        made.append(RebalancingApi(view, store.operator_actions, clock, bus, store.transaction))
        return made[0]

    async with web_world(tokens, rebalancing=api) as web:
        await write_book(web.store.rebalancing)
        yield RebalancingWorld(web, made[0])


async def write_book(repo: RebalanceRepository) -> None:
    t0 = START_MS - 60 * MINUTE_MS
    await _snapshots(repo)
    await _failed_and_completed_aapl(repo, t0)
    await _stuck_msft(repo, t0 + 20 * MINUTE_MS)
    await _executing_tsla(repo, t0 + 30 * MINUTE_MS)
    await repo.add_proposal(
        "p-aapl", Proposal("AAPL", Direction.TO_CHAIN, D(20), AAPL_REASON), START_MS - 2_000
    )
    cash = Proposal(
        CASH_ASSET,
        Direction.TO_CHAIN,
        D(2000),
        "onchain share 0.4 is outside 0.6 +- 0.05 (onchain 4000, broker 6000 USD)",
        ("buy 12 AAPL",),
    )
    await repo.add_proposal("p-cash", cash, START_MS - 1_000)


async def _snapshots(repo: RebalanceRepository) -> None:
    def snap(
        asset: str, on: str, broker: str, flight: str, share: str, band: tuple[str, str]
    ) -> InventorySnapshot:
        return InventorySnapshot(
            asset, D(on), D(broker), D(flight), D(share), D(band[0]), D(band[1]),
            1200, START_MS - 5_000, START_MS - 4_000,
        )  # fmt: skip

    await repo.record_inventory(
        [
            snap("AAPL", "30", "70", "0", "0.3", ("0.5", "0.05")),
            snap("TSLA", "10", "8", "2", "0.6", ("0.5", "0.2")),
            snap(CASH_ASSET, "4000", "6000", "0", "0.4", ("0.6", "0.05")),
        ]
    )


async def _confirm(
    repo: RebalanceRepository,
    move_id: str,
    step: MoveStep,
    at_ms: int,
    *,
    request_id: str = "",
    signed: SignedTx | None = None,
    asked: Decimal | None = None,
    received: Decimal | None = None,
) -> None:
    """The step's intent, sent and confirmed, then the move advanced to it."""
    await repo.record_intent(
        move_id, step, at_ms, request_id=request_id, tx=signed, amount_asked=asked
    )
    await repo.record_step_result(move_id, step, IntentStatus.SENT, at_ms + 1)
    await repo.record_step_result(
        move_id, step, IntentStatus.CONFIRMED, at_ms + 2, amount_received=received
    )
    await repo.advance(move_id, step, at_ms + 3)


async def _observed(
    repo: RebalanceRepository,
    move_id: str,
    step: MoveStep,
    at_ms: int,
    *,
    request_id: str | None = None,
    tx_hash: str | None = None,
    received: Decimal | None = None,
) -> None:
    """A step seen without a request of pegkeeper's (accepted, tokens received, ...)."""
    await repo.record_step_result(
        move_id,
        step,
        IntentStatus.CONFIRMED,
        at_ms,
        request_id=request_id,
        tx_hash=tx_hash,
        amount_received=received,
    )
    await repo.advance(move_id, step, at_ms + 1)


async def _failed_and_completed_aapl(repo: RebalanceRepository, t0: int) -> None:
    await repo.open_move(NewMove("m-aapl-0", MoveKind.MINT, "AAPL", D(20), t0, PLAIN))
    await repo.record_intent("m-aapl-0", S.REQUESTED, t0 + 10, request_id="req-aapl-0")
    await repo.fail("m-aapl-0", Halt.MINT_REJECTED, "insufficient qty", t0 + 20)
    t1 = t0 + 5 * MINUTE_MS
    await repo.open_move(NewMove("m-aapl-1", MoveKind.MINT, "AAPL", D(10), t1, PLAIN))
    move = "m-aapl-1"
    await _confirm(repo, move, S.REQUESTED, t1 + 10, request_id="req-aapl-1", asked=D(10))
    await _observed(repo, move, S.ACCEPTED, t1 + 20, request_id="tok-41")
    minted = "0x" + "a1" * 32
    await _observed(repo, move, S.TOKENS_RECEIVED, t1 + 30, tx_hash=minted, received=D(10))
    await _confirm(repo, move, S.DEPOSITED, t1 + 40, signed=tx(3), asked=D(10), received=D(10))
    await _observed(repo, move, S.COMPLETED, t1 + 50)
    await repo.record_cost(MoveCost(move, S.REQUESTED, CostKind.FEE, D("0.50"), t1 + 60))
    await repo.record_cost(MoveCost(move, S.DEPOSITED, CostKind.GAS, D("0.12"), t1 + 61))


async def _stuck_msft(repo: RebalanceRepository, t0: int) -> None:
    redeem = NewMove("m-msft", MoveKind.REDEEM, "MSFT", D(5), t0, PLAIN)
    await repo.open_move(redeem)
    move = "m-msft"
    await _confirm(repo, move, S.WITHDRAWN_FROM_VAULT, t0 + 10, signed=tx(1), received=D(5))
    await _confirm(repo, move, S.SENT_TO_REDEMPTION, t0 + 20, signed=tx(2), asked=D(5))
    await repo.mark_stuck(move, Halt.REDEEM_UNMATCHED, "no redeem request after 4 h", t0 + 30)
    await repo.record_cost(MoveCost(move, S.WITHDRAWN_FROM_VAULT, CostKind.GAS, D("0.03"), t0 + 40))
    await repo.record_cost(MoveCost(move, S.SENT_TO_REDEMPTION, CostKind.GAS, D("0.04"), t0 + 41))


async def _executing_tsla(repo: RebalanceRepository, t0: int) -> None:
    reason = "hand-worked: mint 2 TSLA"
    await repo.add_proposal("p-tsla", Proposal("TSLA", Direction.TO_CHAIN, D(2), reason), t0)
    await repo.approve_proposal("p-tsla", "alice", t0 + 1)
    await repo.open_move(NewMove("m-tsla", MoveKind.MINT, "TSLA", D(2), t0 + 2, PLAIN, "p-tsla"))
    await _confirm(repo, "m-tsla", S.REQUESTED, t0 + 10, request_id="req-tsla-1", asked=D(2))
    await _observed(repo, "m-tsla", S.ACCEPTED, t0 + 20, request_id="tok-77")


@contextlib.contextmanager
def rebalancing_served() -> Iterator[str]:
    """The app of `rebalancing_world` served over HTTP on its own thread; yields the base
    URL."""

    @contextlib.asynccontextmanager
    async def app() -> AsyncIterator[FastAPI]:
        async with rebalancing_world() as world:
            yield world.web.app

    with served(app, "rebalancing") as url:
        yield url

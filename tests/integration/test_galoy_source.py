"""The Galoy ledger poller against a local Galoy GraphQL server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.ledger.galoy import GaloyClient
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.store.ledger_tables import galoy_transactions
from pegkeeper.domain.ledger_sync import GateSettings, LedgerReadiness
from pegkeeper.services.ledger.galoy_poller import GaloyPoller, GaloyPollerSettings, PollReport
from pegkeeper.services.ledger.gate import LedgerGate
from pegkeeper.services.ledger.liability import LiabilityService
from tests.galoy_server import CODE, PHONE, GaloyLedger, RunningGaloy, node, running_galoy, trade

API_KEY = "blink_test_api_key_0123456789"
S = 1_700_000_000  # Galoy's createdAt of the first transaction, in seconds
NOW_MS = (S + 60) * 1000
BTC_AT_25K = 25_000_000_000  # 0.025 cents per sat, times 10^12
ONE_CENT = 10**12


@dataclass
class World:
    galoy: RunningGaloy
    store: SqlStore
    clock: ManualClock
    client: GaloyClient
    poller: GaloyPoller
    gate: LedgerGate

    @property
    def ledger(self) -> GaloyLedger:
        return self.galoy.ledger

    async def poll_all(self) -> list[PollReport]:
        """Poll until Galoy has no newer page."""
        reports = [await self.poller.poll_once()]
        while reports[-1].has_more:
            reports.append(await self.poller.poll_once())
            assert len(reports) < 50
        return reports

    async def events(self) -> list[tuple[str, int]]:
        return [
            (e.event_id, e.delta_cents) for e in reversed(await self.store.liability.recent(100))
        ]

    async def readiness(self) -> LedgerReadiness:
        return await self.gate.readiness()


def make_poller(
    galoy: RunningGaloy,
    store: SqlStore,
    clock: ManualClock,
    code: str,
    page_size: int,
    api_key: str = "",
) -> tuple[GaloyClient, GaloyPoller]:
    client = GaloyClient(galoy.url, PHONE, code, api_key=api_key, timeout_seconds=5)
    liability = LiabilityService(store.liability, MemoryBus(), clock, max_abs_delta_cents=10**9)
    settings = GaloyPollerSettings(poll_interval_seconds=10, page_size=page_size)
    poller = GaloyPoller(client, store.galoy, store.ledger_state, liability, clock, settings)
    return client, poller


@contextlib.asynccontextmanager
async def world(
    store: SqlStore, *, page_size: int = 3, code: str = CODE, api_key: str = ""
) -> AsyncIterator[World]:
    async with running_galoy() as galoy:
        galoy.ledger.api_keys.add(API_KEY)
        clock = ManualClock(NOW_MS)
        client, poller = make_poller(galoy, store, clock, code, page_size, api_key)
        gate = LedgerGate(
            "galoy",
            clock,
            GateSettings(
                half_imported_threshold=2, stale_after_ms=300_000, failed_polls_not_ready=3
            ),
            state=store.ledger_state,
            backlog=store.galoy,
            unpaired_window_seconds=600,
        )
        try:
            yield World(galoy, store, clock, client, poller, gate)
        finally:
            await client.close()


async def stored_transactions(store: SqlStore) -> int:
    async with store.engine.connect() as conn:
        query = select(func.count()).select_from(galoy_transactions)
        return int((await conn.execute(query)).scalar_one())


async def until(check: Callable[[], Any], timeout_s: float = 10) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


# --- the recorded sequence ------------------------------------------------------------------


def recorded_sequence() -> list[dict[str, Any]]:
    """Oldest first. The liability, by hand: 10 000 + 2 550 - 4 000 + 1 234 + 99 = 9 883 cents."""
    memo_btc = node("BTC", 49_480, S + 18, cents_per_unit_e12=BTC_AT_25K, memo="JournalId:7f3a")
    memo_usd = node("USD", -1_234, S + 18, cents_per_unit_e12=ONE_CENT, memo="JournalId:7f3a")
    return [
        *trade(-10_000, 400_000, S),  # a user buys 100.00 USD for 400 000 sats: +10 000
        *trade(-2_550, 102_000, S + 7),  # buys 25.50 USD: +2 550
        # the dealer's own on-chain deposit: no trade, never paired
        node("BTC", 1_500_000, S + 9, cents_per_unit_e12=BTC_AT_25K, via="SettlementViaOnChain"),
        *trade(4_000, 160_000, S + 12),  # a user sells 40.00 USD for 160 000 sats: -4 000
        node("USDT", -500, S + 15, cents_per_unit_e12=ONE_CENT),  # unknown currency: rejected
        # buys 12.34 USD; the BTC leg is worth 49 480 * 0.025 = 1 237 cents, 3 cents off, so only
        # the equal journal memos pair it: +1 234
        memo_btc,
        memo_usd,
        node("USD", None, S + 21, cents_per_unit_e12=ONE_CENT),  # no amount: rejected
        *trade(-99, 3_960, S + 25),  # buys 0.99 USD: +99
    ]


async def test_the_liability_of_a_recorded_sequence_is_the_one_computed_by_hand(
    store: SqlStore,
) -> None:
    async with world(store, page_size=3) as w:
        w.ledger.overlap_pages = True  # every page repeats the transaction at its cursor
        w.ledger.add(*recorded_sequence())
        reports = await w.poll_all()

        assert await store.liability.balance_cents() == 9_883
        deltas = [delta for _, delta in await w.events()]
        assert deltas == [10_000, 2_550, -4_000, 1_234, 99]
        # 13 transactions in pages of 3 (plus the repeated one): 5 pages, each stored once
        assert len(reports) == 5 and sum(r.stored for r in reports) == 13
        assert await stored_transactions(store) == 13
        assert sum(r.rejected for r in reports) == 2
        # each query starts from the newest cursor of the page before
        befores = [before for _, before in w.ledger.queries]
        assert befores[0] is None and len(set(befores)) == 5
        assert {last for last, _ in w.ledger.queries} == {3}

        readiness = await w.readiness()
        # the deposit waits (created 51 s ago, inside the 600 s window), alone: the gate is open
        assert readiness.ready and readiness.reason == ""
        assert (readiness.backlog.unpaired, readiness.backlog.unposted) == (1, 0)
        assert readiness.backlog.rejected == 2

        standing = [(t.trade.matched_by, c) for t, c in await store.galoy.trades()]
        assert standing == [("amount", None)] * 3 + [("memo", None), ("amount", None)]

        # polling again, and a restarted poller, post nothing twice
        await w.poll_all()
        client, restarted = make_poller(w.galoy, store, w.clock, CODE, 3)
        await restarted.poll_once()
        await client.close()
        assert len(await w.events()) == 5 and await store.liability.balance_cents() == 9_883


async def test_a_btc_leg_read_a_poll_before_its_usd_leg(store: SqlStore) -> None:
    async with world(store) as w:
        btc1, usd1 = trade(-5_000, 200_000, S + 1)  # a user buys 50.00 USD
        btc2, usd2 = trade(-700, 28_000, S + 2)  # another buys 7.00 USD
        w.ledger.add(btc1)
        report = await w.poller.poll_once()
        assert (report.stored, report.trades) == (1, 0)
        assert await store.liability.balance_cents() == 0
        # one trade half-imported is tolerated
        assert (await w.readiness()).ready

        w.ledger.add(btc2)
        await w.poller.poll_once()
        readiness = await w.readiness()
        assert not readiness.ready and readiness.backlog.unpaired == 2
        assert "half-imported: 2 transaction(s) without their other leg" in readiness.reason

        w.ledger.add(usd1, usd2)
        report = await w.poller.poll_once()
        assert (report.stored, report.trades, report.posted) == (2, 2, 2)
        assert await store.liability.balance_cents() == 5_700  # 5 000 + 700
        readiness = await w.readiness()
        assert readiness.ready and readiness.backlog.unpaired == 0


async def test_a_trade_that_would_take_the_liability_below_zero_waits_for_the_one_before(
    store: SqlStore,
) -> None:
    async with world(store) as w:
        # the poller first sees a user selling 40.00 USD bought in a trade it has not read yet
        sell = trade(4_000, 160_000, S + 10)
        w.ledger.add(*sell)
        report = await w.poller.poll_once()
        assert (report.trades, report.posted) == (1, 0)
        assert (await w.readiness()).backlog.unposted == 1
        buy = trade(-10_000, 400_000, S + 20)
        w.ledger.add(*buy)
        report = await w.poller.poll_once()
        assert report.posted == 2
        assert [delta for _, delta in await w.events()] == [10_000, -4_000]
        assert await store.liability.balance_cents() == 6_000


# --- credentials ----------------------------------------------------------------------------


@pytest.mark.parametrize("as_http_401", [False, True])
async def test_an_expired_token_is_replaced_by_one_new_login(
    store: SqlStore, as_http_401: bool
) -> None:
    async with world(store) as w:
        w.ledger.reject_expired_with_401 = as_http_401
        w.ledger.add(*trade(-1_000, 40_000, S))
        await w.poller.poll_once()
        assert w.ledger.logins == 1
        w.ledger.expire_tokens()
        w.ledger.add(*trade(-2_000, 80_000, S + 5))
        await w.poller.poll_once()
        assert w.ledger.logins == 2 and w.client.logins == 2
        assert await store.liability.balance_cents() == 3_000


async def test_wrong_credentials_stop_the_source_with_a_clear_error(store: SqlStore) -> None:
    async with world(store, code="271828") as w:
        w.ledger.add(*trade(-1_000, 40_000, S))
        await asyncio.wait_for(w.poller.run(), timeout=10)  # returns: the source stopped

        state = await store.ledger_state.get("galoy")
        assert state is not None and state.stopped
        assert "refused the login of phone +15***01" in state.last_error
        assert "Invalid or incorrect phone code entered" in state.last_error
        assert "PEGKEEPER_LEDGER__GALOY__CODE" in state.last_error
        assert "271828" not in state.last_error
        readiness = await w.readiness()
        assert not readiness.ready
        assert readiness.reason.startswith("the galoy ledger source stopped: Galoy at http://")
        # one attempt, no loop of logins however long one waits
        w.clock.advance(3_600)
        await asyncio.sleep(0.05)
        assert w.ledger.failed_logins == 1 and await store.liability.balance_cents() == 0


async def test_an_api_key_reads_the_account_without_any_login(store: SqlStore) -> None:
    async with world(store, code="", api_key=API_KEY) as w:
        w.ledger.add(*trade(-1_000, 40_000, S))
        await w.poller.poll_once()
        w.ledger.expire_tokens()  # a session would have expired: a key does not
        w.ledger.add(*trade(-2_000, 80_000, S + 5))
        await w.poller.poll_once()
        assert (w.ledger.logins, w.ledger.failed_logins, w.client.logins) == (0, 0, 0)
        assert await store.liability.balance_cents() == 3_000


async def test_a_refused_api_key_stops_the_source_and_is_never_shown(store: SqlStore) -> None:
    async with world(store, api_key="blink_revoked_key_987654321") as w:
        w.ledger.add(*trade(-1_000, 40_000, S))
        await asyncio.wait_for(w.poller.run(), timeout=10)  # returns: the source stopped
        state = await store.ledger_state.get("galoy")
        assert state is not None and state.stopped
        assert "refused the API key (Not authorized)" in state.last_error
        assert "PEGKEEPER_LEDGER__GALOY__API_KEY" in state.last_error
        assert "987654321" not in state.last_error and w.ledger.logins == 0


# --- faults and bad input -------------------------------------------------------------------


async def test_a_failing_galoy_is_read_again_after_a_pause(store: SqlStore) -> None:
    async with world(store) as w:
        w.ledger.add(*trade(-1_000, 40_000, S))
        w.ledger.fail_next_requests = 1  # the login answers HTTP 500
        runner = asyncio.create_task(w.poller.run())
        try:

            async def failed() -> bool:
                state = await store.ledger_state.get("galoy")
                return state is not None and "HTTP 500" in state.last_error

            await until(failed)
            assert await store.liability.balance_cents() == 0
            w.clock.advance(20)  # the first pause: 10 s doubled

            async def recovered() -> bool:
                state = await store.ledger_state.get("galoy")
                return state is not None and state.last_poll_ms is not None

            await until(recovered)
            state = await store.ledger_state.get("galoy")
            assert state is not None and state.last_error == "" and not state.stopped
            assert await store.liability.balance_cents() == 1_000
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner


async def test_galoy_is_not_ready_after_three_failed_reads_not_after_the_stale_limit(
    store: SqlStore,
) -> None:
    async with world(store) as w:
        w.ledger.add(*trade(-1_000, 40_000, S))
        await w.poll_all()
        assert (await w.readiness()).ready
        w.ledger.fail_next_requests = 1_000  # Galoy answers HTTP 500 from now on
        runner = asyncio.create_task(w.poller.run())
        try:

            async def failed(times: int) -> bool:
                state = await store.ledger_state.get("galoy")
                return state is not None and state.failed_polls == times

            await until(lambda: failed(1))
            assert (await w.readiness()).ready  # one failed read: not yet
            w.clock.advance(20)  # the pauses double from 20 s
            await until(lambda: failed(2))
            assert (await w.readiness()).ready
            w.clock.advance(40)
            await until(lambda: failed(3))
            readiness = await w.readiness()
            # 60 s after the last good read, far inside the 300 s staleness limit
            assert not readiness.ready
            assert readiness.reason.startswith("the last 3 reads of the galoy ledger failed")
            assert "HTTP 500" in readiness.reason
            w.ledger.fail_next_requests = 0
            w.clock.advance(80)
            await until(lambda: failed(0))
            assert (await w.readiness()).ready
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner


async def test_malformed_transactions_are_kept_with_the_reason_and_the_rest_imported(
    store: SqlStore,
) -> None:
    async with world(store, page_size=10) as w:
        w.ledger.add(
            node("USDT", -500, S, cents_per_unit_e12=ONE_CENT, tx_id="bad-currency"),
            *trade(-1_000, 40_000, S + 1),
            node("USD", None, S + 2, cents_per_unit_e12=ONE_CENT, tx_id="no-amount"),
        )
        report = await w.poller.poll_once()
        assert (report.stored, report.rejected, report.posted) == (4, 2, 1)
        assert await store.liability.balance_cents() == 1_000
        async with store.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(galoy_transactions.c.tx_id, galoy_transactions.c.rejected_reason)
                    .where(galoy_transactions.c.rejected_reason.is_not(None))
                    .order_by(galoy_transactions.c.tx_id)
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            ("bad-currency", "unknown settlementCurrency 'USDT'; expected BTC or USD"),
            ("no-amount", "missing settlementAmount"),
        ]


# --- the daily re-check ---------------------------------------------------------------------


async def test_the_daily_recheck_reverses_a_pairing_found_wrong(store: SqlStore) -> None:
    async with world(store) as w:
        # three legs of one second: d (BTC worth 1 000 cents), f (-1 000 cents), e (-1 001 cents)
        d = node("BTC", 40_000, S, cents_per_unit_e12=BTC_AT_25K, tx_id="d-1")
        f = node("USD", -1_000, S, cents_per_unit_e12=ONE_CENT, tx_id="f-1")
        e = node("USD", -1_001, S, cents_per_unit_e12=ONE_CENT, tx_id="e-1")
        w.ledger.add(d, f)
        await w.poller.poll_once()
        assert await store.liability.balance_cents() == 1_000  # d + f
        w.ledger.add(e)  # read late; d is taken, so e waits
        report = await w.poller.poll_once()
        assert (report.stored, report.trades, report.rechecked) == (1, 0, None)

        w.clock.advance(86_401)  # a day later e is re-checked, with its second paired afresh
        report = await w.poller.poll_once()
        assert (report.rechecked, report.corrections, report.trades) == ("e-1", 1, 1)
        # sorted by id, d pairs with e: d + f is reversed by its own event, never edited
        assert await w.events() == [
            ("galoy-trade-d-1-f-1", 1_000),
            ("galoy-correction-d-1-f-1", -1_000),
            ("galoy-trade-d-1-e-1", 1_001),
        ]
        assert await store.liability.balance_cents() == 1_001
        trades = [(t.trade_id, c) for t, c in await store.galoy.trades()]
        assert trades == [
            ("galoy-trade-d-1-f-1", "galoy-correction-d-1-f-1"),
            ("galoy-trade-d-1-e-1", None),
        ]
        assert [t.tx_id for t in await store.galoy.unpaired()] == ["f-1"]

        w.clock.advance(86_401)  # f's re-check finds the same pairing: nothing changes
        report = await w.poller.poll_once()
        assert (report.rechecked, report.corrections, report.trades) == ("f-1", 0, 0)
        assert await store.liability.balance_cents() == 1_001
        # the re-checks read from just before the transaction: nothing is older, so from the start
        assert w.ledger.queries[-1] == (3, None)


async def test_a_recheck_that_cannot_read_does_not_hold_up_the_import(store: SqlStore) -> None:
    async with world(store) as w:
        earlier = trade(-1_000, 40_000, S - 100)
        lone = node("BTC", 80_000, S, cents_per_unit_e12=BTC_AT_25K, tx_id="lone")
        w.ledger.add(*earlier, lone)
        await w.poller.poll_once()
        # Galoy no longer knows the cursor just before the lone transaction: its re-check fails
        w.ledger.transactions = [lone]
        w.clock.advance(86_401)
        w.ledger.add(*trade(-2_000, 80_000, S + 86_400))
        report = await w.poller.poll_once()
        assert report.rechecked is None and (report.stored, report.posted) == (2, 1)
        assert await store.liability.balance_cents() == 3_000
        state = await store.ledger_state.get("galoy")
        assert state is not None and state.last_error == ""
        # tried again tomorrow, not at every poll
        assert await store.galoy.due_for_recheck(w.clock.now_ms() - 86_400_000) is None

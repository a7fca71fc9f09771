"""Restarts and going live: a restarted demo goes on from its stored time, the demo quotes from
the simulator's own book, a real venue is refused a recorded book."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from pegkeeper import bootstrap
from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import open_store
from pegkeeper.bootstrap.pricing import BookSourceError
from pegkeeper.config import load_settings
from pegkeeper.domain.errors import VenueUnavailable, VenueUncertain
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.domain.orders import OrderReport
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.views.health import READY, order_wait_state
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.player import PricePlayer, tick_in_force
from pegkeeper.sim.price_path import PriceTick
from tests.fakes import FakeStore, FakeVenue

PATH = [PriceTick(0, Decimal(100)), PriceTick(15_000, Decimal(101))]
PATH += [PriceTick(30_000, Decimal(102)), PriceTick(45_000, Decimal(103))]  # period 60 s
MARCH_12_2020_MS = 1_583_971_200_000  # the bundled path's first tick, 00:00 UTC

# The dealer's services: no equity hedger (its demo would start a node) in these tests.
DEALER = ["hedger", "funding", "liability", "price-server", "web"]


def test_the_tick_in_force_follows_the_looping_path() -> None:
    assert tick_in_force(PATH, -5) == PriceTick(0, Decimal(100))  # before the path starts
    assert tick_in_force(PATH, 14_999) == PriceTick(0, Decimal(100))
    assert tick_in_force(PATH, 45_000) == PriceTick(45_000, Decimal(103))
    # the second repetition starts at 60 s: 75 s is its second tick, 74.999 s its first
    assert tick_in_force(PATH, 75_000) == PriceTick(75_000, Decimal(101))
    assert tick_in_force(PATH, 74_999) == PriceTick(60_000, Decimal(100))


async def test_a_resumed_player_plays_on_from_the_first_tick_after_its_start() -> None:
    played: list[PriceTick] = []

    async def record(tick: PriceTick) -> None:
        played.append(tick)

    engine = SimEngine()
    clock = ManualClock(75_000)
    player = PricePlayer(engine, PATH, clock, record, after_ms=75_000)
    task = asyncio.create_task(player.run())
    await asyncio.sleep(0)
    clock.advance(30)  # to 105 s: the ticks of 90 s and 105 s are due
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    assert played == [PriceTick(90_000, Decimal(102)), PriceTick(105_000, Decimal(103))]


async def _store_liability_at(settings_path: Path, now_ms: int) -> None:
    settings = load_settings(data_dir=settings_path)
    store = await open_store(settings.database_url, clock=ManualClock(now_ms))
    clock = ManualClock(now_ms)
    service = LiabilityService(store.liability, MemoryBus(), clock, max_abs_delta_cents=10**8)
    await service.post("before-the-restart", 500_000, "")
    await store.close()


@pytest.mark.parametrize("kind", ["sim", "okx"])
async def test_a_restarted_demo_goes_on_from_the_last_stored_time(
    tmp_path: Path, kind: str
) -> None:
    stored_ms = MARCH_12_2020_MS + 5 * 3_600_000 + 7_000  # 05:00:07 on the demo's day
    await _store_liability_at(tmp_path, stored_ms)
    settings = load_settings(data_dir=tmp_path, venue={"kind": kind})
    runtime = await bootstrap.build_runtime(settings, DEALER)
    try:
        assert runtime.stored.last_stored_ms == stored_ms
        assert runtime.stored.resume_ms == stored_ms + 1_000
        assert stored_ms + 1_000 <= runtime.clock.now_ms() < stored_ms + 600_000
        assert "last stored at 2020-03-12 05:00:07 UTC" in runtime.stored.describe()
        # the exchange opens at the price of 05:00:00-05:00:15, the first tick of bar 05:00
        engine = runtime.venue.engine
        assert engine is not None and engine.price_ms("BTC-USD-SWAP") == stored_ms + 1_000
        bars = (Path(__file__).parents[2] / "src/pegkeeper/sim/data").glob("btc-usd-*.csv")
        bar = next(line for line in next(bars).read_text().splitlines() if "1583989200000" in line)
        open_usd = Decimal(bar.split(",")[1])
        assert engine.mark_price_usd("BTC-USD-SWAP") == open_usd
    finally:
        await bootstrap.close_runtime(runtime)


async def test_a_new_data_directory_starts_the_demo_at_the_path_s_start(tmp_path: Path) -> None:
    runtime = await bootstrap.build_runtime(
        load_settings(data_dir=tmp_path, venue={"kind": "sim"}), DEALER
    )
    try:
        assert runtime.stored.last_stored_ms is None and runtime.stored.resume_ms is None
        assert MARCH_12_2020_MS <= runtime.clock.now_ms() < MARCH_12_2020_MS + 600_000
        assert runtime.stored.describe().startswith("new: nothing stored in sqlite")
    finally:
        await bootstrap.close_runtime(runtime)


async def test_the_demo_quotes_from_the_simulator_s_own_book(tmp_path: Path) -> None:
    runtime = await bootstrap.build_runtime(load_settings(data_dir=tmp_path), DEALER)
    try:
        engine = runtime.venue.engine
        assert engine is not None
        engine.set_prices(runtime.clock.now_ms(), Decimal("7654.3"))
        # 7 654.3 USD per BTC = 765 430 cents per 100 000 000 sats; the book's best bid and
        # ask sit half a dollar either side, so their mid is the price itself
        assert runtime.pricing.pricer.mid_rate_cents_per_sat() == Decimal("0.0076543")
        assert runtime.pricing.pricer.source == "OKX simulator's own book"
    finally:
        await bootstrap.close_runtime(runtime)


def _real_okx(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEY", "SECRET_KEY", "PASSPHRASE"):
        monkeypatch.setenv(f"PEGKEEPER_VENUE__{name}", "x")


@pytest.mark.parametrize(
    "options",
    [{}, {"market_data": {"okx_book_file": "book.json", "okx": {"enabled": True}}}],
)
def test_a_real_venue_is_refused_a_recorded_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, object]
) -> None:
    _real_okx(monkeypatch)
    settings = load_settings(data_dir=tmp_path, demo={"enabled": False}, **options)
    with pytest.raises(BookSourceError, match=r"allow_file_book_with_real_venue = true"):
        bootstrap.run_forever(settings, [])
    assert not (tmp_path / "pegkeeper.db").exists()  # refused before anything was built


def test_the_override_or_the_live_feed_lets_a_real_venue_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pegkeeper.bootstrap.pricing import refuse_file_book_with_real_venue

    _real_okx(monkeypatch)
    live = load_settings(data_dir=tmp_path, market_data={"okx": {"enabled": True}})
    refuse_file_book_with_real_venue(live)
    meant = load_settings(data_dir=tmp_path, price_server={"allow_file_book_with_real_venue": True})
    refuse_file_book_with_real_venue(meant)


class LookupsFail(FakeVenue):
    """A venue whose order lookups get no answer: an uncertain order stays in flight."""

    async def order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        raise VenueUnavailable("503 Service Unavailable")


async def test_the_hedger_names_the_order_it_waits_on_and_for_how_long() -> None:
    store, venue, bus, clock = FakeStore(), LookupsFail(), MemoryBus(), ManualClock(1_000_000)
    settings = HedgerSettings(order_lookup_window_seconds=10, limit_order_timeout_seconds=30)
    hedger = HedgerService(store, venue, bus, clock, StablesatsHedgePolicy(), settings)
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**9)
    await liability.post("a", 1_000_000)
    venue.fail_next = VenueUncertain("timeout")
    await hedger.cycle("liability", "c1")
    (order,) = await store.hedge.open_orders()
    clock.advance(40)
    assert await hedger.cycle("recheck", "c2") is None  # still in flight
    waited = hedger.hedge.order_waited_on()
    assert waited == (order, 40.0)
    assert hedger.hedge.longest_order_wait_seconds == 40  # 30 s resting, then 10 s of lookup
    assert order_wait_state(order.intent.client_order_id, "unknown", 40.0, 40) == READY
    clock.advance(15)
    (_, seconds) = hedger.hedge.order_waited_on() or (None, 0.0)
    state = order_wait_state(order.intent.client_order_id, "unknown", seconds, 40)
    assert state.startswith(f"waiting on order {order.intent.client_order_id} (unknown) for 55 s")

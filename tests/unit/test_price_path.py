"""Price paths from 1-minute bars, and the player that feeds them to the engine."""

from __future__ import annotations

import asyncio
import csv
from decimal import Decimal as D
from pathlib import Path

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.player import PricePlayer
from pegkeeper.sim.price_path import PriceTick, bundled_demo_path, load_price_path

HEADER = "open_time_ms,open,high,low,close,volume\n"
T0 = 1_583_971_200_000


def write_csv(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "bars.csv"
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows))
    return path


def test_the_bundled_day_loads_as_four_ticks_per_bar() -> None:
    path = bundled_demo_path()
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1440
    ticks = load_price_path(path)
    assert len(ticks) == 5760
    assert ticks[0] == PriceTick(int(rows[0]["open_time_ms"]), D(rows[0]["open"]))
    assert ticks[0] == PriceTick(1_583_971_200_000, D("7938.39"))
    assert ticks[-1] == PriceTick(int(rows[-1]["open_time_ms"]) + 45_000, D(rows[-1]["close"]))


def test_a_rising_bar_visits_the_low_first_and_a_falling_bar_the_high_first(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        f"{T0},100,110,90,105,1",  # closes above its open: low, then high
        f"{T0 + 60_000},105,120,95,100,1",  # closes below: high, then low
    )
    assert load_price_path(path) == [
        PriceTick(T0, D(100)),
        PriceTick(T0 + 15_000, D(90)),
        PriceTick(T0 + 30_000, D(110)),
        PriceTick(T0 + 45_000, D(105)),
        PriceTick(T0 + 60_000, D(105)),
        PriceTick(T0 + 75_000, D(120)),
        PriceTick(T0 + 90_000, D(95)),
        PriceTick(T0 + 105_000, D(100)),
    ]


def corrupt_copy(tmp_path: Path, line: int, replacement: str) -> Path:
    """The first 5 lines of the bundled file with line `line` (1 = header) replaced."""
    lines = bundled_demo_path().read_text().splitlines()[:5]
    lines[line - 1] = replacement
    path = tmp_path / "corrupt.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        (3, "1583971260000,7954.32,abc,7952.13,7957.27,253.527", r"line 3: column high"),
        (4, "1583971320000,7957.27,7961.65,7956.39", r"line 4: expected at least 5 columns"),
        (4, "1583971260000,7957.27,7961.65,7956.39,7961.65,1", r"line 4: .*duplicate"),
        (4, "1583971200000,7957.27,7961.65,7956.39,7961.65,1", r"line 4: .*unsorted"),
        (4, "1583971380000,7957.27,7961.65,7956.39,7961.65,1", r"line 4: .*gap of 120000 ms"),
        (2, "15839712e5,7938.39,7960.52,7938.38,7954.40,1", r"line 2: column open_time_ms"),
        (5, "1583971380000,7962.00,7950.00,7958.93,7961.11,1", r"line 5: column high/low"),
        (3, "1583971260000,-1,7963.55,7952.13,7957.27,1", r"line 3: column open"),
        (1, "time,open,high,low,close", r"line 1: the header lacks column\(s\) open_time_ms"),
    ],
)
def test_a_corrupted_file_names_the_line_and_column(
    tmp_path: Path, line: int, replacement: str, message: str
) -> None:
    path = corrupt_copy(tmp_path, line, replacement)
    with pytest.raises(ValueError, match=message):
        load_price_path(path)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match="line 1: the file is empty"):
        load_price_path(path)
    path.write_text(HEADER)
    with pytest.raises(ValueError, match="no bars"):
        load_price_path(path)


# -- the player --------------------------------------------------------------------------------


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def ticks_every_15s(*prices: int) -> list[PriceTick]:
    return [PriceTick(T0 + i * 15_000, D(p)) for i, p in enumerate(prices)]


async def test_the_player_delivers_ticks_as_the_clock_reaches_them() -> None:
    engine = SimEngine()
    clock = ManualClock(start_ms=T0)
    played: list[PriceTick] = []

    async def on_tick(tick: PriceTick) -> None:
        played.append(tick)

    player = PricePlayer(engine, ticks_every_15s(100, 101, 102), clock, on_tick, loop=False)
    task = asyncio.create_task(player.run())
    await settle()
    assert engine.mark_price_usd() == 100
    clock.set(T0 + 14_999)
    await settle()
    assert engine.mark_price_usd() == 100
    clock.set(T0 + 15_000)
    await settle()
    assert engine.mark_price_usd() == 101
    clock.advance(60)
    await settle()
    assert engine.mark_price_usd() == 102
    assert [t.ts_ms for t in played] == [T0, T0 + 15_000, T0 + 30_000]
    await asyncio.wait_for(task, 1)


async def test_a_looping_player_moves_time_forward_on_each_round() -> None:
    engine = SimEngine()
    clock = ManualClock(start_ms=T0)
    played: list[PriceTick] = []

    async def on_tick(tick: PriceTick) -> None:
        played.append(tick)

    player = PricePlayer(engine, ticks_every_15s(100, 200), clock, on_tick, loop=True)
    task = asyncio.create_task(player.run())
    try:
        for _ in range(4):
            await settle()
            clock.advance(15)
        await settle()
    finally:
        task.cancel()
    # Path length = 15 s between the ticks + one 15 s step = 30 s per round.
    assert played == [
        PriceTick(T0, D(100)),
        PriceTick(T0 + 15_000, D(200)),
        PriceTick(T0 + 30_000, D(100)),
        PriceTick(T0 + 45_000, D(200)),
        PriceTick(T0 + 60_000, D(100)),
    ]
    assert player.ticks_played == 5


async def test_start_ms_shifts_the_path() -> None:
    engine = SimEngine()
    start_ms = T0 + 86_400_000
    clock = ManualClock(start_ms=start_ms)
    player = PricePlayer(engine, ticks_every_15s(100, 200), clock, loop=False, start_ms=start_ms)
    task = asyncio.create_task(player.run())
    await settle()
    assert engine.mark_price_usd() == 100
    clock.advance(15)
    await asyncio.wait_for(task, 1)
    assert engine.mark_price_usd() == 200


def test_the_player_refuses_unsorted_ticks() -> None:
    ticks = [PriceTick(T0 + 15_000, D(1)), PriceTick(T0, D(2))]
    with pytest.raises(ValueError, match="increasing"):
        PricePlayer(SimEngine(), ticks, ManualClock(T0))

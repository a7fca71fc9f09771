"""The CLI's own paths (migrate, config errors, unknown services) and the clocks."""

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pegkeeper.adapters.clock import ManualClock, ScaledClock
from pegkeeper.cli import app

runner = CliRunner()


def test_migrate_creates_the_database(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'data_dir = "{tmp_path / "d"}"\n')
    result = runner.invoke(app, ["migrate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "pegkeeper.db").stat().st_size > 0


def test_a_bad_config_stops_with_the_key_named(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[http]\nport = 70000\n")
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert "http.port" in result.output and "less than or equal to 65535" in result.output


def test_an_unknown_service_is_named(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    result = runner.invoke(app, ["run", "hedgr", "--config", str(config)])
    assert result.exit_code == 2
    said = " ".join(result.output.split())  # the console may wrap the line
    assert "unknown service(s) hedgr" in said
    assert (
        "hedger, carry, funding, liability, ledger, market-data, quote-feeds, peg-monitor, "
        "price-server, equity-hedger, rebalancer, web" in said
    )


def test_status_says_when_nothing_is_running() -> None:
    result = runner.invoke(app, ["status", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "cannot reach pegkeeper" in result.output


async def test_manual_clock_wakes_sleepers_when_time_passes() -> None:
    clock = ManualClock(1_000)
    woke: list[int] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(clock.now_ms())

    tasks = [asyncio.create_task(sleeper(s)) for s in (1, 5)]
    await asyncio.sleep(0)
    clock.advance(2)
    await asyncio.sleep(0)
    assert woke == [3_000]
    clock.set(7_000)
    await asyncio.gather(*tasks)
    assert woke == [3_000, 7_000]
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(6_000)


async def test_scaled_clock_runs_faster_than_real_time() -> None:
    clock = ScaledClock(start_ms=0, speed=1000)
    await clock.sleep(20)  # 20 simulated seconds = 20 real milliseconds
    assert clock.now_ms() >= 20_000
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(0, 0)

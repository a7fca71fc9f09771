"""`pegkeeper broker check` against the dry-run broker of a config file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pegkeeper.cli import app

runner = CliRunner()


def config(tmp_path: Path, equities: str) -> Path:
    path = tmp_path / "pegkeeper.toml"
    database = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    path.write_text(f'[store]\ndatabase_url = "{database}"\n{equities}')
    return path


def test_the_dry_run_account_is_printed_as_json(tmp_path: Path) -> None:
    path = config(tmp_path, '[equities.dry_run]\ncash_usd = "2500.5"\nholdings = { AAPL = "4" }\n')
    result = runner.invoke(app, ["broker", "check", "-c", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["broker"] == "dry-run" and data["ok"] and data["problems"] == []
    assert data["account"]["cash_usd"] == "2500.5"
    assert data["positions"] == {"AAPL": {"quantity": "4", "available": "4"}}
    assert data["session"] == "regular"  # the dry-run broker's market never closes
    assert len(data["days"]) == 9  # yesterday, today and 7 days ahead


def test_the_table_names_cash_and_the_calendar(tmp_path: Path) -> None:
    path = config(tmp_path, '[equities.dry_run]\ncash_usd = "2500.5"\n')
    result = runner.invoke(app, ["broker", "check", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert "2,500.50 USD" in result.output
    assert "around the clock" in result.output
    assert "the broker is ready for the hedger" in result.output

"""The [ledger] settings, and the ledger gate as the operator sees it: dealer JSON, status."""

import io
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from pegkeeper import bootstrap
from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import open_store
from pegkeeper.api.http.app import ApiContext, create_app
from pegkeeper.bootstrap.ledger import LedgerMisconfigured, build_ledger
from pegkeeper.cli import _status_table
from pegkeeper.config import ConfigError, load_settings
from pegkeeper.domain.ledger_sync import Backlog, LedgerReadiness
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.views.dealer import DealerView
from tests.fakes import FakeStore

WAITING = LedgerReadiness(
    "galoy",
    False,
    "the galoy ledger is half-imported: 2 transaction(s) without their other leg and 0 "
    "trade(s) not yet posted; trading waits while there are 2 or more",
    Backlog(unpaired=2, unposted=0, rejected=1),
    last_poll_ms=1_700_000_000_000,
)


class Gate:
    async def readiness(self) -> LedgerReadiness:
        return WAITING


async def test_the_dealer_says_why_trading_waits() -> None:
    store = FakeStore()
    liability = LiabilityService(
        store.liability, MemoryBus(), ManualClock(0), max_abs_delta_cents=1
    )

    async def ready() -> dict[str, str]:
        return {"hedger": "ready"}

    context = ApiContext(liability=liability, dealer=DealerView(store, Gate()), readiness=ready)
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = (await client.get("/api/v1/dealer")).json()
    assert body["liability_cents"] == 0 and "last_decision" in body  # the keys there were
    assert body["ledger"] == {
        "source": "galoy",
        "ready": False,
        "reason": WAITING.reason,
        "unpaired_transactions": 2,
        "unposted_trades": 0,
        "rejected_transactions": 1,
        "last_read_ms": 1_700_000_000_000,
        "last_error": "",
    }
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(_status_table(body))
    lines = [" ".join(line.strip(" │┃").split()) for line in console.export_text().splitlines()]
    assert "ledger source │ galoy" in lines
    assert f"ledger │ waiting: {WAITING.reason}" in lines
    assert "ledger backlog │ 2 unpaired, 0 unposted, 1 rejected" in lines


def test_the_ledger_service_runs_only_for_a_polled_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "ledger" not in bootstrap.select_services([], load_settings(data_dir=tmp_path))
    monkeypatch.setenv("PEGKEEPER_LEDGER__GALOY__CODE", "123456")
    settings = load_settings(
        data_dir=tmp_path, ledger={"source": "galoy", "galoy": {"phone": "+15550100001"}}
    )
    assert "ledger" in bootstrap.select_services([], settings)
    assert settings.ledger.galoy.code.get_secret_value() == "123456"
    assert "123456" not in repr(settings.ledger) and "123456" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[ledger]\nsource = "galoy"\n',
            'ledger: source = "galoy" needs an API key in PEGKEEPER_LEDGER__GALOY__API_KEY (or, '
            "for a test account, [ledger.galoy] phone and the login code in "
            "PEGKEEPER_LEDGER__GALOY__CODE)",
        ),
        (
            '[ledger]\nsource = "postgres"\n',
            'ledger: source = "postgres" needs the DSN in PEGKEEPER_LEDGER__POSTGRES__DSN and '
            "[ledger.postgres] query",
        ),
        ('[ledger]\nsource = "ftp"\n', "ledger.source: Input should be 'http', 'galoy' or"),
        ("[ledger]\nhalf_imported_threshold = 0\n", "ledger.half_imported_threshold: Input"),
    ],
)
def test_an_unusable_ledger_section_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ('[ledger.galoy]\ncode = "654321"\n', "PEGKEEPER_LEDGER__GALOY__CODE"),
        ('[ledger.galoy]\napi_key = "blink_k3y"\n', "PEGKEEPER_LEDGER__GALOY__API_KEY"),
        (
            '[ledger.postgres]\ndsn = "postgresql://u:654321@h/db"\n',
            "PEGKEEPER_LEDGER__POSTGRES__DSN",
        ),
    ],
)
def test_ledger_secrets_are_refused_in_a_file(tmp_path: Path, text: str, env: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert env in str(refused.value) and "654321" not in str(refused.value)


async def test_the_source_and_its_gate_are_built_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await open_store("sqlite+aiosqlite:///:memory:")
    liability = LiabilityService(
        store.liability, MemoryBus(), ManualClock(0), max_abs_delta_cents=1
    )
    try:
        http = build_ledger(load_settings(data_dir=tmp_path), store, liability)
        assert http.run is None and (await http.gate.readiness()).ready

        monkeypatch.setenv("PEGKEEPER_LEDGER__POSTGRES__DSN", "postgresql://w:pw9@127.0.0.1:1/w")
        postgres = {"source": "postgres", "postgres": {"query": "SELECT 1"}}
        built = build_ledger(load_settings(data_dir=tmp_path, ledger=postgres), store, liability)
        assert (
            built.description == "the liability query on postgresql+asyncpg://w:***@127.0.0.1:1/w"
        )
        readiness = await built.gate.readiness()
        assert readiness.reason == "the postgres ledger has not been read yet"
        for close in built.closers:
            await close()

        monkeypatch.setenv("PEGKEEPER_LEDGER__POSTGRES__DSN", "sqlite:///wallet.db")
        with pytest.raises(LedgerMisconfigured, match="must be a PostgreSQL URL"):
            build_ledger(load_settings(data_dir=tmp_path, ledger=postgres), store, liability)

        monkeypatch.setenv("PEGKEEPER_LEDGER__GALOY__CODE", "123456")
        galoy = {"source": "galoy", "galoy": {"phone": "+15550100001"}}
        built = build_ledger(load_settings(data_dir=tmp_path, ledger=galoy), store, liability)
        assert built.description == "Galoy dealer account at https://api.blink.sv/graphql"
        assert built.run is not None and len(built.closers) == 1
        for close in built.closers:
            await close()
    finally:
        await store.close()

"""The overview's health panel shows the cluster: the process serving the page (its name from
`[cluster] process_name`, its services), another process that stopped beating (stale), and a
lease with its holder named, all read from the store the processes share."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from pegkeeper.adapters.store.database import open_store
from pegkeeper.adapters.store.process_tables import processes
from pegkeeper.domain.processes import ProcessInfo
from tests.browser.conftest import screenshot
from tests.e2e.conftest import Running, start, stop

CONFIG = (
    '[demo]\nenabled = false\n[funding]\nenabled = false\n[cluster]\nprocess_name = "dealer-a"\n'
)
GONE = ProcessInfo("host-z:9:zz", "dealer-z", "host-z", 9, ("hedger",), "")
LEASE = "hedger:BTC-USD-SWAP"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    instance = start(tmp_path_factory.mktemp("browser-cluster"), CONFIG)
    yield instance
    stop(instance)


def in_store(running: Running, process_id: str) -> int:
    """As the other processes of the cluster would: `dealer-a` takes the lease, and `dealer-z`
    beat once a minute ago. Returns the lease's epoch. (Its own thread: Playwright's loop
    owns this one.)"""
    url = f"sqlite+aiosqlite:///{running.config.parent / 'data' / 'pegkeeper.db'}"

    async def write() -> int:
        store = await open_store(url)
        try:
            lease = await store.leases.acquire(LEASE, process_id, 600_000)
            assert lease is not None
            await store.processes.heartbeat(GONE)
            async with store.engine.begin() as conn:
                gone = processes.c.process_id == GONE.process_id
                minute_ago = {
                    "started_at_ms": processes.c.started_at_ms - 60_000,
                    "seen_at_ms": processes.c.seen_at_ms - 60_000,
                }
                await conn.execute(update(processes).where(gone).values(**minute_ago))
            return lease.epoch
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, write()).result()


def test_the_health_panel_shows_processes_and_lease_holders(running: Running, page: Page) -> None:
    process = httpx.get(running.url + "/readyz", timeout=10).json()["process"]
    assert process["name"] == "dealer-a"
    epoch = in_store(running, process["id"])
    page.goto(running.url + "/")
    row = page.locator(f'#processes tr[data-id="{process["id"]}"]')
    expect(row).to_contain_text("dealer-a", timeout=15_000)
    expect(row).to_contain_text(", ".join(process["services"]))
    expect(row).to_contain_text("running")
    gone = page.locator(f'#processes tr[data-id="{GONE.process_id}"]')
    expect(gone).to_contain_text("dealer-z")
    expect(gone).to_contain_text("stale")
    lease = page.locator(f'#leases tr[data-id="{LEASE}"]')
    expect(lease).to_contain_text("dealer-a")  # the holder's id, shown by its name
    expect(lease.locator("td").nth(2)).to_have_text(str(epoch))
    expect(lease).to_contain_text(" s")
    screenshot(page, "cluster-panel")
    cluster = httpx.get(running.url + "/api/v1/cluster", timeout=10).json()
    assert [p["name"] for p in cluster["processes"]] == ["dealer-a", "dealer-z"]
    assert [(lease["name"], lease["holder"]) for lease in cluster["leases"]] == [
        (LEASE, process["id"])
    ]

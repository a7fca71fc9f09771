"""The dashboard's app (tests/web_support.py) with the equity hedger over the hand-worked book
of tests/equities_book.py: in process for the HTTP tests, served over HTTP for the CLI and the
browser. The book is read from the SQL equity store it was written into (`repository="sql"`,
the default) or from the fake of the store's read side (`"fake"`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import uvicorn

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.api.http.equities import EquitiesApi
from tests.equities_book import book_view
from tests.equities_sql_book import write_book
from tests.web_support import WebWorld, web_world

Repository = Literal["sql", "fake"]


@contextlib.asynccontextmanager
async def equities_world(
    tokens: dict[str, str] | None = None, repository: Repository = "sql"
) -> AsyncIterator[WebWorld]:
    def api(store: SqlStore, clock: ManualClock, bus: MemoryBus) -> EquitiesApi:
        view = book_view(clock, store.equities if repository == "sql" else None)
        return EquitiesApi(view, store.operator_actions, clock, bus)

    async with web_world(tokens, equities=api) as world:
        if repository == "sql":
            await write_book(world.store.equities)
        yield world


@contextlib.contextmanager
def equities_served(configured: bool = True) -> Iterator[str]:
    """The app of `equities_world` (or, not `configured`, of `web_world` alone) served over
    HTTP on its own thread, with its own event loop where the store lives; yields the base
    URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    servers: list[uvicorn.Server] = []

    async def serve() -> None:
        world_of = equities_world() if configured else web_world()
        async with world_of as world:
            config = uvicorn.Config(
                world.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
            )
            servers.append(uvicorn.Server(config))
            await servers[0].serve(sockets=[sock])

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    while not (servers and servers[0].started):
        if not thread.is_alive():
            raise RuntimeError("the equities app stopped before it served")
        threading.Event().wait(0.01)
    try:
        yield url
    finally:
        servers[0].should_exit = True
        thread.join(timeout=10)
        sock.close()

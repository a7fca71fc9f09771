"""The process around the services: its listening sockets bound before anything is announced,
the errors that stop a start reduced to one line, and SIGINT / SIGTERM stopping it cleanly."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from collections.abc import Awaitable, Callable

import structlog

from pegkeeper.api.grpc.server import ServerStartError
from pegkeeper.bootstrap.ledger import LedgerMisconfigured
from pegkeeper.config import Settings
from pegkeeper.domain.errors import BusUnavailable, VenueMisconfigured

log = structlog.get_logger("pegkeeper")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StoreUnavailable(Exception):
    """The database cannot be opened; the message names it and the setting."""


class VenueUnreachable(VenueMisconfigured):
    """The venue did not answer its start checks; the message names the setting."""


START_ERRORS = (
    ServerStartError,
    VenueMisconfigured,
    LedgerMisconfigured,
    StoreUnavailable,
    BusUnavailable,
)


def bind_http(settings: Settings) -> socket.socket:
    """The HTTP server's socket, bound now; raises ServerStartError naming the setting."""
    return bind_listener(
        settings.http.host, settings.http.port, "[http] port or PEGKEEPER_HTTP__PORT"
    )


def bind_listener(host: str, port: int, setting: str) -> socket.socket:
    """A server's socket, bound now; raises ServerStartError naming `setting`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ServerStartError(
            f"cannot listen on {host}:{port} ({setting}): {error.strerror or error}"
        ) from None
    return sock


class Stopping:
    """Which signal asked the process to stop, once one has."""

    def __init__(self) -> None:
        self.signal_name = ""

    def install(self, task: asyncio.Task[None]) -> None:
        """SIGINT (Ctrl-C) and SIGTERM cancel `task`: every service stops through its own
        cleanup, and the store is closed, whichever signal it was."""
        loop = asyncio.get_running_loop()
        for each in STOP_SIGNALS:
            loop.add_signal_handler(each, self._stop, each, task)

    def _stop(self, received: signal.Signals, task: asyncio.Task[None]) -> None:
        if self.signal_name:
            return  # already stopping
        self.signal_name = received.name
        log.info("stopping", signal=received.name)
        task.cancel()


def start_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """A service that could not start (a port taken), unwrapped from the task group."""
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            found = start_error(error)
            if found is not None:
                return found
        elif isinstance(error, START_ERRORS):
            return error
    return None


def freeze_startup_heap() -> None:
    """Puts every object alive now (the imported libraries, the settings, the built services)
    out of the cyclic garbage collector's walks. Else each full collection walks the imports'
    ~370 k objects (ccxt alone is ~400 modules) and stops the event loop for 100 to 300 ms,
    a few times a minute under load: the tail of every reaction time."""
    gc.collect()
    gc.freeze()


def event_loop_runner() -> Callable[[Awaitable[None]], None]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with ccxt on every supported platform
        return lambda coro: asyncio.run(coro)  # type: ignore[arg-type]
    return lambda coro: uvloop.run(coro)  # type: ignore[arg-type]

"""The Galoy client's answers to a server that misbehaves: each failure named, none fatal but
refused credentials."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest

from pegkeeper.adapters.ledger.galoy import GaloyClient
from pegkeeper.domain.ledger_sync import LedgerAuthError, LedgerUnavailable
from tests.galoy_server import CODE, PHONE

LOGIN_OK = orjson.dumps({"data": {"userLogin": {"authToken": "tok-1", "errors": []}}})


@contextlib.asynccontextmanager
async def answering(*answers: tuple[int, bytes] | None) -> AsyncIterator[str]:
    """A local HTTP server giving these answers in turn (None: read the request, never answer)."""
    queue = list(answers)
    finished = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        answer = queue.pop(0)
        if answer is None:
            await finished.wait()
            writer.close()
            return
        status, body = answer
        writer.write(
            b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (status, len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        finished.set()
        server.close()
        await asyncio.sleep(0)


async def read(url: str) -> None:
    client = GaloyClient(url, PHONE, CODE, timeout_seconds=0.3)
    try:
        await client.transactions(None, 100)
    finally:
        await client.close()


def page(edges: object) -> bytes:
    connection = {"edges": edges, "pageInfo": {"hasPreviousPage": False}}
    return orjson.dumps({"data": {"me": {"defaultAccount": {"transactions": connection}}}})


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([(502, b"bad gateway")], "answered HTTP 502; reading again later"),
        ([(429, b"{}")], "answered HTTP 429"),
        ([(404, b"<html>not here</html>")], "answered HTTP 404 without a JSON object"),
        ([None], "did not answer within 0.3 s"),
        ([(200, LOGIN_OK), (200, b'{"errors": [{"message": "boom"}]}')], "with errors: boom"),
        ([(200, LOGIN_OK), (200, page([{"node": {"id": "x"}}]))], "has no cursor"),
        ([(200, LOGIN_OK), (200, page("nope"))], "expected a list of edges"),
        ([(200, LOGIN_OK), (200, b'{"data": {"me": {}}}')], "cannot be read: 'defaultAccount'"),
        ([(200, b'{"data": {}}')], "login answer has no userLogin"),
    ],
)
async def test_a_failure_that_may_pass_is_unavailable_and_named(
    answers: list[tuple[int, bytes] | None], message: str
) -> None:
    async with answering(*answers) as url:
        with pytest.raises(LedgerUnavailable, match=message):
            await read(url)


async def test_an_unreachable_galoy_is_named() -> None:
    with pytest.raises(LedgerUnavailable, match=r"cannot reach Galoy at http://127\.0\.0\.1:1/"):
        await read("http://127.0.0.1:1/graphql")


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([(401, b"")], "refused the login of phone \\+15\\*\\*\\*01 \\(HTTP 401\\)"),
        (
            [(200, b'{"data": {"userLogin": {"authToken": null, "errors": []}}}')],
            "no token in the answer",
        ),
        (
            [(200, LOGIN_OK), (200, b'{"errors": [{"message": "Not authorized"}], "data": null}')],
            "refused the token it had just issued \\(Not authorized\\)",
        ),
        ([(200, LOGIN_OK), (200, b'{"data": {"me": null}}')], "refused the token it had just"),
    ],
)
async def test_refused_credentials_are_an_auth_error(
    answers: list[tuple[int, bytes]], message: str
) -> None:
    async with answering(*answers) as url:
        with pytest.raises(LedgerAuthError, match=message) as refused:
            await read(url)
    assert CODE not in str(refused.value) and "tok-1" not in str(refused.value)


async def test_a_galoy_error_that_echoes_the_code_is_scrubbed() -> None:
    echo = orjson.dumps(
        {"data": {"userLogin": {"authToken": None, "errors": [{"message": f"bad {CODE}"}]}}}
    )
    async with answering((200, echo)) as url:
        with pytest.raises(LedgerAuthError) as refused:
            await read(url)
    assert CODE not in str(refused.value) and "(bad ***)" in str(refused.value)

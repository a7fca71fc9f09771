"""JSON-RPC calls through web3.py's AsyncWeb3 over HTTP, each bounded by a timeout, every
failure turned into ChainError naming the method, and the RPC URL kept out of every message:
an RPC URL often carries an API key in its path, query or user part.

No retries here: the ingestion service decides when to ask again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import aiohttp
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    Web3Exception,
    Web3RPCError,
)
from web3.types import RPCEndpoint, RPCResponse

from pegkeeper.domain.errors import ChainCallReverted, ChainError, InvalidInput

T = TypeVar("T")

REDACTED = "***"
# Path segments and query values shorter than this are words like "v2", not keys.
_MIN_SECRET_CHARS = 6


class UrlRedactor:
    """Removes an RPC URL's secret parts (user, password, path, query, fragment) from text,
    leaving scheme, host and port, which say which node answered."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(
                f"RPC URL {self._shown(parts.scheme, parts.hostname, parts.port)!r} is not "
                "usable: expected http:// or https:// with a host"
            )
        self.shown = self._shown(parts.scheme, parts.hostname, parts.port)
        secret_path = parts.path not in ("", "/")
        if secret_path or parts.query or parts.fragment or parts.username:
            self.shown += "/" + REDACTED
        candidates = {parts.path, parts.query, parts.fragment}
        if parts.username or parts.password:
            candidates.add(parts.netloc)
        candidates |= {parts.username or "", parts.password or ""}
        candidates |= set(parts.path.split("/"))
        for pair in parts.query.split("&"):
            candidates |= set(pair.split("=", 1))
        secrets = {c for c in candidates if c and c != "/"}
        secrets |= {quote(s, safe="") for s in secrets} | {unquote(s) for s in secrets}
        host = parts.hostname
        self._secrets = sorted(
            (s for s in secrets if len(s) >= _MIN_SECRET_CHARS and s != host and s != self.shown),
            key=len,
            reverse=True,
        )
        # The URL itself, whole, is replaced by its shown form.
        self._whole = sorted({url, url.rstrip("/")}, key=len, reverse=True)

    @staticmethod
    def _shown(scheme: str, host: str | None, port: int | None) -> str:
        return f"{scheme}://{host or ''}" + (f":{port}" if port else "")

    def clean(self, text: str) -> str:
        for whole in self._whole:
            text = text.replace(whole, self.shown)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """web3.py logs the endpoint URL at DEBUG level; this rewrites such records' text."""

    def __init__(self, redactor: UrlRedactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.clean(record.getMessage())
        record.args = None
        return True


class KeptAliveHTTPProvider(AsyncHTTPProvider):
    """web3's HTTP provider, posting through one aiohttp session of its own, kept alive.

    web3's own session handling opens a new TCP connection for every request and takes a
    threading lock through a thread pool around each (together about 0.8 ms a request on a
    local node, five times the request itself); and a request cancelled while it waits for that
    lock (a timeout, a service stopping) can leave the lock taken, after which every request,
    and the process's exit, wait forever."""

    _session: aiohttp.ClientSession | None = None

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        # the debug line web3's own provider logs (Rpc's filter takes the URL's secrets out)
        self.logger.debug("Making request HTTP. URI: %s, Method: %s", self.endpoint_uri, method)
        return self.decode_rpc_response(await self._post(self.encode_rpc_request(method, params)))

    async def make_batch_request(
        self, batch_requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        body = self.encode_batch_rpc_request(batch_requests)
        answer = self.decode_rpc_response(await self._post(body))
        if not isinstance(answer, list):
            return answer  # one error for the whole batch
        return sorted(answer, key=lambda a: a["id"] if isinstance(a.get("id"), int) else -1)

    async def _post(self, body: bytes) -> bytes:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(raise_for_status=True)
        kwargs = self.get_request_kwargs()
        url = str(self.endpoint_uri)  # always given: Rpc passes its URL
        async with self._session.post(url, data=body, **kwargs) as response:
            return await response.read()

    async def disconnect(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        await super().disconnect()


class Rpc:
    """One node: `call("eth_getLogs", lambda: w3.eth.get_logs(...))` runs a web3 request under
    the timeout and translates its failures."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise InvalidInput(f"RPC timeout {timeout_s} s: expected a positive number of seconds")
        self.redactor = UrlRedactor(url)
        self.timeout_s = timeout_s
        provider = KeptAliveHTTPProvider(
            url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=timeout_s)},
            exception_retry_configuration=None,
        )
        self._provider = provider
        # No middleware: the default validation asks eth_chainId around every eth_call.
        self.w3 = AsyncWeb3(provider, middleware=[])
        self._log_filter = RedactingFilter(self.redactor)
        self._loggers = [provider.logger, provider._request_session_manager.logger]
        for logger in self._loggers:
            logger.addFilter(self._log_filter)

    @property
    def endpoint(self) -> str:
        """The node's URL without its secret parts, for logs and messages."""
        return self.redactor.shown

    async def call(self, method: str, request: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await request()
        except TimeoutError:
            raise ChainError(
                f"{method} timed out after {self.timeout_s} s at {self.endpoint}"
            ) from None
        except (ContractLogicError, BadFunctionCallOutput) as exc:
            raise ChainCallReverted(self._message(method, "the call reverted", exc)) from None
        except Web3RPCError as exc:
            raise ChainError(self._message(method, "the node answered an error", exc)) from None
        except aiohttp.ClientResponseError as exc:
            raise ChainError(
                f"{method} failed at {self.endpoint}: HTTP {exc.status} {exc.message}"
            ) from None
        except (aiohttp.ClientError, OSError, Web3Exception, ValueError, KeyError) as exc:
            raise ChainError(self._message(method, "the request failed", exc)) from None

    async def batch(self, method: str, params: Sequence[list[Any]]) -> list[Any] | None:
        """Calls of `method`, one per entry of `params`, in one JSON-RPC batch: their results
        in order (None where the node answered null). None when the node does not answer the
        batch whole (an HTTP error status, a single error, an error or no answer for a call):
        the caller then asks call by call, which reports each failure as it is."""
        requests = [(RPCEndpoint(method), entry) for entry in params]

        async def request() -> Any:
            try:
                return await self._provider.make_batch_request(requests)
            except aiohttp.ClientResponseError:  # a node or proxy that takes no batches
                return None

        answers = await self.call(f"{method} (batch)", request)
        if not isinstance(answers, list) or len(answers) != len(requests):
            return None
        if any(not isinstance(a, dict) or "error" in a or "result" not in a for a in answers):
            return None
        return [answer["result"] for answer in answers]

    def _message(self, method: str, what: str, exc: BaseException) -> str:
        detail = self.redactor.clean(f"{type(exc).__name__}: {exc}")
        return f"{method} at {self.endpoint}: {what} ({detail})"

    async def close(self) -> None:
        try:
            await self._provider.disconnect()
        finally:
            for logger in self._loggers:
                logger.removeFilter(self._log_filter)

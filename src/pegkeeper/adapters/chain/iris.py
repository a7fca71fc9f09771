"""Circle's attestation service (Iris) for CCTP v2: the messages of a burn transaction and their
attestations, `GET /v2/messages/{sourceDomainId}?transactionHash=0x...`.

A 404 means the service has not indexed the burn yet (no messages, ask again later). The answer
is read only: asking is always safe to repeat.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from pegkeeper.domain.equities.transfers import BridgeMessage
from pegkeeper.domain.errors import ChainError, InvalidInput

_NOT_INDEXED = 404
_TX_HASH_HEX = 64


class IrisClient:
    def __init__(self, base_url: str, *, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise InvalidInput(f"timeout {timeout_s} s: expected a positive number of seconds")
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def messages(self, source_domain: int, tx_hash: str) -> tuple[BridgeMessage, ...]:
        """The transaction's messages in log order; () while the service has not indexed it."""
        tx_hash = tx_hash.lower()
        if len(tx_hash) != 2 + _TX_HASH_HEX or not tx_hash.startswith("0x"):
            raise InvalidInput(f"transaction hash {tx_hash!r}: expected 0x and 64 hex digits")
        url = f"{self.base_url}/v2/messages/{source_domain}"
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(url, params={"transactionHash": tx_hash}) as answer:
                if answer.status == _NOT_INDEXED:
                    return ()
                if answer.status != 200:
                    raise ChainError(
                        f"attestation service answered HTTP {answer.status} for {tx_hash}"
                    )
                body = await answer.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ChainError(
                f"attestation service at {self.base_url}: request for {tx_hash} failed "
                f"({type(exc).__name__})"
            ) from None
        return tuple(_message(entry) for entry in body.get("messages") or [])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _message(entry: dict[str, Any]) -> BridgeMessage:
    status = str(entry.get("status", ""))
    return BridgeMessage(
        status=status,
        nonce=str(entry.get("eventNonce", "")),
        message=_hex_bytes(entry.get("message")),
        attestation=_hex_bytes(entry.get("attestation")),
    )


def _hex_bytes(value: Any) -> bytes:
    """0x hex as bytes; "PENDING", null and "0x" as empty."""
    if not isinstance(value, str) or not value.startswith("0x"):
        return b""
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        return b""

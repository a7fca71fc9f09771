"""A local attestation service answering as Circle's Iris API v2 does for CCTP v2 messages:

    GET /v2/messages/{sourceDomainId}?transactionHash=0x...

It reads the transaction's receipt from the source chain's node (JSON-RPC), takes the
MessageSent logs of the configured message transmitter, and answers one entry per message in
log order: `pending_confirmations` (attestation "PENDING", message "0x") until the burn is
`confirmations` blocks deep and `delay_s` has passed since the service first saw it, then
`complete` with the message (nonce and finalityThresholdExecuted filled in, as Iris does) and
the attester's signature over its keccak256 (65 bytes r, s, v). A transaction it does not know,
or without messages, answers 404, as Iris does until it has indexed the burn.

The nonce is keccak256(source domain, transaction hash, log index): asking again, or asking a
restarted server, gives the same message, so a relayed message can be received once only.

Faults: `withhold` keeps every message pending forever (an attestation that never arrives).
`fee_units` is the fee a message is attested with (its feeExecuted, at most the burn's maxFee;
0 by default, as for a standard transfer): the destination mints the amount less the fee.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak

# keccak256("MessageSent(bytes)")
MESSAGE_SENT_TOPIC0 = "0x" + keccak(text="MessageSent(bytes)").hex()
FINALITY_FINALIZED = 2000
NONCE = slice(12, 44)
FINALITY_EXECUTED = slice(144, 148)
BODY_INDEX = 148
MAX_FEE = slice(BODY_INDEX + 132, BODY_INDEX + 164)
FEE_EXECUTED = slice(BODY_INDEX + 164, BODY_INDEX + 196)
_BURN_FIELDS = (  # BurnMessageV2: name, offset, length
    ("burnToken", 4, 32),
    ("mintRecipient", 36, 32),
    ("amount", 68, 32),
    ("messageSender", 100, 32),
    ("maxFee", 132, 32),
    ("feeExecuted", 164, 32),
    ("expirationBlock", 196, 32),
)
_UINT_FIELDS = {"amount", "maxFee", "feeExecuted", "expirationBlock"}
_TX_HASH_HEX = 64


@dataclass
class BridgeFaults:
    withhold: bool = False  # attestations never become available


@dataclass
class _Seen:
    first_seen_s: float
    block_number: int


class AttestationServer:
    def __init__(
        self,
        source_rpc_url: str,
        source_domain: int,
        message_transmitter: str,
        attester_key: str,
        *,
        delay_s: float = 0.0,
        confirmations: int = 1,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.source_rpc_url = source_rpc_url
        self.source_domain = source_domain
        self.message_transmitter = message_transmitter.lower()
        self._attester = Account.from_key(attester_key)
        self.attester = self._attester.address.lower()
        self.delay_s = delay_s
        self.confirmations = confirmations
        self.faults = BridgeFaults()
        self.fee_units = 0  # the fee each message is attested with, up to its maxFee
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"AttestationServer(domain={self.source_domain}, attester={self.attester})"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v2/messages/{source_domain}", self._messages)
        self._runner = web.AppRunner(
            app, shutdown_timeout=0.5, handle_signals=False, access_log=None
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._session = aiohttp.ClientSession()

    def forget(self) -> None:
        """Forgets the burns seen so far, as a restarted service does (for a source chain
        reverted to a snapshot)."""
        self._seen.clear()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _messages(self, request: web.Request) -> web.Response:
        tx_hash = request.query.get("transactionHash", "").lower()
        if len(tx_hash) != 2 + _TX_HASH_HEX or not tx_hash.startswith("0x"):
            return _error(400, "transactionHash is required: 0x and 64 hex digits")
        if request.match_info["source_domain"] != str(self.source_domain):
            return _error(404, "Message hash not found")
        receipt = await self._rpc("eth_getTransactionReceipt", [tx_hash])
        logs = [log for log in (receipt or {}).get("logs", []) if self._is_message_sent(log)]
        if not logs:
            return _error(404, "Message hash not found")
        block_number = int(receipt["blockNumber"], 16)
        seen = self._seen.setdefault(tx_hash, _Seen(self._clock(), block_number))
        ready = await self._ready(seen)
        entries = [self._entry(tx_hash, log, ready) for log in logs]
        return web.json_response({"messages": entries})

    def _is_message_sent(self, log: dict[str, Any]) -> bool:
        topics = log.get("topics") or []
        return (
            str(log.get("address", "")).lower() == self.message_transmitter
            and len(topics) == 1
            and str(topics[0]).lower() == MESSAGE_SENT_TOPIC0
        )

    async def _ready(self, seen: _Seen) -> bool:
        if self.faults.withhold or self._clock() - seen.first_seen_s < self.delay_s:
            return False
        head = int(await self._rpc("eth_blockNumber", []), 16)
        return head - seen.block_number + 1 >= self.confirmations

    def _entry(self, tx_hash: str, log: dict[str, Any], ready: bool) -> dict[str, Any]:
        emitted = _log_bytes(log["data"])
        nonce = keccak(
            abi_encode(
                ["uint32", "bytes32", "uint256"],
                [self.source_domain, bytes.fromhex(tx_hash[2:]), int(log["logIndex"], 16)],
            )
        )
        message = bytearray(emitted)
        message[NONCE] = nonce
        message[FINALITY_EXECUTED] = FINALITY_FINALIZED.to_bytes(4, "big")
        fee = min(self.fee_units, int.from_bytes(message[MAX_FEE], "big"))
        message[FEE_EXECUTED] = fee.to_bytes(32, "big")
        entry: dict[str, Any] = {
            "eventNonce": "0x" + nonce.hex(),
            "cctpVersion": 2,
            "decodedMessage": _decoded(bytes(message)),
            "delayReason": None,
        }
        if not ready:
            return entry | {
                "message": "0x",
                "attestation": "PENDING",
                "status": "pending_confirmations",
            }
        signature = self._attester.unsafe_sign_hash(keccak(bytes(message))).signature
        return entry | {
            "message": "0x" + bytes(message).hex(),
            "attestation": "0x" + bytes(signature).hex(),
            "status": "complete",
        }

    async def _rpc(self, method: str, params: list[Any]) -> Any:
        assert self._session is not None, "start() the server first"
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        async with self._session.post(self.source_rpc_url, json=body) as answer:
            reply = await answer.json()
        if "error" in reply:
            raise web.HTTPBadGateway(text=f"source node: {method}: {reply['error']}")
        return reply["result"]


def _log_bytes(data: str) -> bytes:
    """MessageSent's one argument, `bytes message`, from the log's ABI-encoded data."""
    raw = bytes.fromhex(data.removeprefix("0x"))
    length = int.from_bytes(raw[32:64], "big")
    return raw[64 : 64 + length]


def _decoded(message: bytes) -> dict[str, Any]:
    def word(start: int, length: int) -> str:
        return "0x" + message[start : start + length].hex()

    def uint(start: int, length: int) -> str:
        return str(int.from_bytes(message[start : start + length], "big"))

    body = message[BODY_INDEX:]
    decoded_body = {
        name: (
            str(int.from_bytes(body[start : start + size], "big"))
            if name in _UINT_FIELDS
            else "0x" + body[start + 12 : start + size].hex()
        )
        for name, start, size in _BURN_FIELDS
    }
    decoded_body["hookData"] = "0x" + body[228:].hex()
    return {
        "sourceDomain": uint(4, 4),
        "destinationDomain": uint(8, 4),
        "nonce": word(12, 32),
        "sender": word(44, 32),
        "recipient": word(76, 32),
        "destinationCaller": word(108, 32),
        "minFinalityThreshold": uint(140, 4),
        "finalityThresholdExecuted": uint(144, 4),
        "messageBody": "0x" + body.hex(),
        "decodedMessageBody": decoded_body,
    }


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"code": status, "error": message}, status=status)

"""Orderbook logs as the node answers them, decoded and paired: each Clear with the AfterClear
that carries its amounts. Pure: the adapter (raindex.py) does the reading."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pegkeeper.adapters.chain.raindex_abi import (
    KIND_BY_TOPIC0,
    AfterClearAmounts,
    ClearHalf,
    DecodedLog,
    LogDecodeError,
    complete_clear,
    decode_log,
)
from pegkeeper.domain.equities.chain import LogRef, RaindexEvent, UndecodableLog
from pegkeeper.domain.errors import ChainError


def hex_str(value: Any) -> str:
    """A hash or address as 0x-prefixed lower-case hex, from bytes (HexBytes) or a string."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


def as_int(value: Any) -> int:
    """A quantity the node answered as an integer or as a hex string."""
    if isinstance(value, int):
        return value
    return int(str(value), 16)


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    text = str(value)
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)


@dataclass(frozen=True, slots=True)
class RawLog:
    address: str  # lower case
    topics: tuple[str, ...]  # 0x-prefixed, lower case
    data: bytes
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    block_timestamp_s: int | None  # when the node includes it in the log
    removed: bool

    @classmethod
    def from_rpc(cls, entry: Mapping[str, Any], method: str) -> RawLog:
        """The log as `method` answered it; ChainError when a field is missing or malformed."""
        try:
            return cls._parse(entry)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ChainError(
                f"{method} answered a malformed log ({type(exc).__name__}: {exc})"
            ) from None

    @classmethod
    def _parse(cls, entry: Mapping[str, Any]) -> RawLog:
        timestamp = entry.get("blockTimestamp")
        return cls(
            address=hex_str(entry["address"]),
            topics=tuple(hex_str(t) for t in entry.get("topics", ())),
            data=as_bytes(entry.get("data", b"")),
            block_number=as_int(entry["blockNumber"]),
            block_hash=hex_str(entry["blockHash"]),
            tx_hash=hex_str(entry["transactionHash"]),
            log_index=as_int(entry["logIndex"]),
            block_timestamp_s=None if timestamp is None else as_int(timestamp),
            removed=bool(entry.get("removed", False)),
        )

    @property
    def topic0(self) -> str:
        return self.topics[0] if self.topics else ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.tx_hash, self.log_index)

    def ref(self, block_timestamp_s: int) -> LogRef:
        return LogRef(
            block_number=self.block_number,
            block_hash=self.block_hash,
            tx_hash=self.tx_hash,
            log_index=self.log_index,
            block_timestamp_s=block_timestamp_s,
        )


def is_orderbook_log(log: RawLog, orderbook: str) -> bool:
    return log.address == orderbook and log.topic0 in KIND_BY_TOPIC0


def decode_all(
    logs: Iterable[RawLog], timestamps_s: Mapping[int, int]
) -> tuple[list[DecodedLog], list[UndecodableLog]]:
    """Each log decoded by its topic0, or an UndecodableLog with the reason."""
    decoded: list[DecodedLog] = []
    undecodable: list[UndecodableLog] = []
    for log in sorted(logs, key=lambda item: item.log_index):
        ref = log.ref(timestamps_s[log.block_number])
        try:
            decoded.append(decode_log(KIND_BY_TOPIC0[log.topic0], ref, len(log.topics), log.data))
        except LogDecodeError as exc:
            undecodable.append(UndecodableLog(ref=ref, reason=_short(str(exc))))
    return decoded, undecodable


@dataclass(frozen=True, slots=True)
class Paired:
    """One transaction's decoded logs after pairing."""

    events: list[RaindexEvent]
    unpaired_clears: list[ClearHalf]  # no AfterClear of their generation after them
    unused_after_clears: list[AfterClearAmounts]  # no Clear before them: was it dropped?

    @property
    def complete(self) -> bool:
        return not self.unpaired_clears and not self.unused_after_clears


def pair_clears(decoded: Sequence[DecodedLog]) -> Paired:
    """For one transaction's logs in log-index order: each Clear takes the first AfterClear of
    its generation after it, looking no further than the next Clear (an orderbook emits a
    clear's AfterClear before any other clear begins)."""
    events: list[RaindexEvent] = []
    unpaired: list[ClearHalf] = []
    used: set[int] = set()
    for position, item in enumerate(decoded):
        if isinstance(item, AfterClearAmounts):
            continue
        if not isinstance(item, ClearHalf):
            events.append(item)
            continue
        after = _after_clear_of(item, decoded[position + 1 :])
        if after is None:
            unpaired.append(item)
            continue
        used.add(after.ref.log_index)
        events.append(complete_clear(item, after))
    unused = [
        item
        for item in decoded
        if isinstance(item, AfterClearAmounts) and item.ref.log_index not in used
    ]
    return Paired(events=events, unpaired_clears=unpaired, unused_after_clears=unused)


def _after_clear_of(clear: ClearHalf, later: Sequence[DecodedLog]) -> AfterClearAmounts | None:
    for item in later:
        if isinstance(item, ClearHalf):
            return None
        if isinstance(item, AfterClearAmounts) and item.generation is clear.generation:
            return item
    return None


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

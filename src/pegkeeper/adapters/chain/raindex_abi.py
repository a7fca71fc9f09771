"""The six Raindex events the adapter reads (specs/equities.md, "Raindex events"): their ABI
types, topic0s, and the decoding of a log's data into the records of domain.equities.chain.

Amounts stay raw: V4 integers as emitted, V5/V6 Float words as unsigned 256-bit integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from pegkeeper.domain.equities.chain import (
    ClearEvent,
    Generation,
    Io,
    LogRef,
    RaindexOrder,
    TakeOrderEvent,
)

# OrderBook V4
IO = "(address,uint8,uint256)"
EVALUABLE_V3 = "(address,address,bytes)"
ORDER_V3 = f"(address,{EVALUABLE_V3},{IO}[],{IO}[],bytes32)"
CLEAR_CONFIG = "(uint256,uint256,uint256,uint256,uint256,uint256)"
CLEAR_STATE_CHANGE = "(uint256,uint256,uint256,uint256)"
SIGNED_CONTEXT_V1 = "(address,uint256[],bytes)"
TAKE_ORDER_CONFIG_V3 = f"({ORDER_V3},uint256,uint256,{SIGNED_CONTEXT_V1}[])"

# OrderBook V5 / Raindex V6 (Float = bytes32)
IO_V2 = "(address,bytes32)"
EVALUABLE_V4 = "(address,address,bytes)"
ORDER_V4 = f"(address,{EVALUABLE_V4},{IO_V2}[],{IO_V2}[],bytes32)"
CLEAR_CONFIG_V2 = "(uint256,uint256,uint256,uint256,bytes32,bytes32)"
CLEAR_STATE_CHANGE_V2 = "(bytes32,bytes32,bytes32,bytes32)"
SIGNED_CONTEXT_V1_BYTES32 = "(address,bytes32[],bytes)"
TAKE_ORDER_CONFIG_V4 = f"({ORDER_V4},uint256,uint256,{SIGNED_CONTEXT_V1_BYTES32}[])"


class Role(StrEnum):
    CLEAR = "clear"  # carries the two orders, no amounts
    AFTER_CLEAR = "after_clear"  # the amounts of the Clear before it
    TAKE = "take"


@dataclass(frozen=True, slots=True)
class EventKind:
    name: str
    generation: Generation
    role: Role
    types: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.types)})"

    @property
    def topic0(self) -> str:
        return "0x" + keccak(text=self.signature).hex()


CLEAR_V2 = EventKind(
    "ClearV2", Generation.V4, Role.CLEAR, ("address", ORDER_V3, ORDER_V3, CLEAR_CONFIG)
)
AFTER_CLEAR = EventKind(
    "AfterClear", Generation.V4, Role.AFTER_CLEAR, ("address", CLEAR_STATE_CHANGE)
)
TAKE_ORDER_V2 = EventKind(
    "TakeOrderV2", Generation.V4, Role.TAKE, ("address", TAKE_ORDER_CONFIG_V3, "uint256", "uint256")
)
CLEAR_V3 = EventKind(
    "ClearV3", Generation.V5, Role.CLEAR, ("address", ORDER_V4, ORDER_V4, CLEAR_CONFIG_V2)
)
AFTER_CLEAR_V2 = EventKind(
    "AfterClearV2", Generation.V5, Role.AFTER_CLEAR, ("address", CLEAR_STATE_CHANGE_V2)
)
TAKE_ORDER_V3 = EventKind(
    "TakeOrderV3", Generation.V5, Role.TAKE, ("address", TAKE_ORDER_CONFIG_V4, "bytes32", "bytes32")
)

EVENT_KINDS = (CLEAR_V2, AFTER_CLEAR, TAKE_ORDER_V2, CLEAR_V3, AFTER_CLEAR_V2, TAKE_ORDER_V3)
KIND_BY_TOPIC0 = {kind.topic0: kind for kind in EVENT_KINDS}


@dataclass(frozen=True, slots=True)
class ClearHalf:
    """A ClearV2 / ClearV3 before its amounts are known."""

    ref: LogRef
    generation: Generation
    alice: RaindexOrder
    bob: RaindexOrder
    io_indexes: tuple[int, int, int, int]  # alice input, alice output, bob input, bob output


@dataclass(frozen=True, slots=True)
class AfterClearAmounts:
    ref: LogRef
    generation: Generation
    alice_output: int
    bob_output: int
    alice_input: int
    bob_input: int


DecodedLog = TakeOrderEvent | ClearHalf | AfterClearAmounts


class LogDecodeError(ValueError):
    """A log of a known topic0 whose data is not that event's encoding."""


def decode_log(kind: EventKind, ref: LogRef, topic_count: int, data: bytes) -> DecodedLog:
    """The log's data decoded as `kind`; raises LogDecodeError saying why it is not."""
    if topic_count != 1:
        raise LogDecodeError(
            f"{kind.name} has {topic_count} topics, expected 1 (the event has no indexed fields)"
        )
    try:
        values = abi_decode(list(kind.types), data)
        return _record(kind, ref, values)
    except Exception as exc:  # eth_abi raises several kinds; any of them means "not this event"
        raise LogDecodeError(f"{kind.name} does not decode: {type(exc).__name__}: {exc}") from exc


def complete_clear(clear: ClearHalf, after: AfterClearAmounts) -> ClearEvent:
    alice_in, alice_out, bob_in, bob_out = clear.io_indexes
    return ClearEvent(
        ref=clear.ref,
        generation=clear.generation,
        alice=clear.alice,
        bob=clear.bob,
        alice_input_io_index=alice_in,
        alice_output_io_index=alice_out,
        bob_input_io_index=bob_in,
        bob_output_io_index=bob_out,
        alice_input=after.alice_input,
        alice_output=after.alice_output,
        bob_input=after.bob_input,
        bob_output=after.bob_output,
    )


def _record(kind: EventKind, ref: LogRef, values: Sequence[Any]) -> DecodedLog:
    if kind.role is Role.CLEAR:
        _sender, alice, bob, config = values
        return ClearHalf(
            ref=ref,
            generation=kind.generation,
            alice=_order(alice, kind.generation),
            bob=_order(bob, kind.generation),
            io_indexes=(int(config[0]), int(config[1]), int(config[2]), int(config[3])),
        )
    if kind.role is Role.AFTER_CLEAR:
        _sender, change = values
        alice_output, bob_output, alice_input, bob_input = (_amount(v) for v in change)
        return AfterClearAmounts(
            ref, kind.generation, alice_output, bob_output, alice_input, bob_input
        )
    _sender, config, taker_input, taker_output = values
    order, input_io_index, output_io_index, _signed_context = config
    return TakeOrderEvent(
        ref=ref,
        generation=kind.generation,
        order=_order(order, kind.generation),
        input_io_index=int(input_io_index),
        output_io_index=int(output_io_index),
        taker_input=_amount(taker_input),
        taker_output=_amount(taker_output),
    )


def _order(value: Sequence[Any], generation: Generation) -> RaindexOrder:
    owner, _evaluable, inputs, outputs, _nonce = value
    return RaindexOrder(
        owner=str(owner).lower(),
        inputs=tuple(_io(io, generation) for io in inputs),
        outputs=tuple(_io(io, generation) for io in outputs),
    )


def _io(value: Sequence[Any], generation: Generation) -> Io:
    token = str(value[0]).lower()
    if generation is Generation.V4:
        return Io(token=token, decimals=int(value[1]))
    return Io(token=token, decimals=None)


def _amount(value: int | bytes) -> int:
    """A V4 integer as it is, a V5 Float word (bytes32) as an unsigned integer."""
    return int.from_bytes(value, "big") if isinstance(value, bytes) else int(value)

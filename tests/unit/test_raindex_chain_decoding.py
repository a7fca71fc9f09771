"""The chain adapter's pure parts: the six event kinds and their topic0s, pairing each Clear
with its AfterClear, and keeping an RPC URL's key out of messages."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode

from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.chain.raindex_abi import (
    AFTER_CLEAR,
    AFTER_CLEAR_V2,
    CLEAR_V2,
    EVENT_KINDS,
    TAKE_ORDER_V3,
    AfterClearAmounts,
    ClearHalf,
    LogDecodeError,
    decode_log,
)
from pegkeeper.adapters.chain.raindex_logs import pair_clears
from pegkeeper.adapters.chain.rpc import UrlRedactor
from pegkeeper.domain.equities.chain import ClearEvent, Generation, LogRef, RaindexOrder
from pegkeeper.domain.errors import InvalidInput

SPEC_TOPIC0 = {  # specs/equities.md
    "ClearV2": "0x692ee69af2843c70772be93470669f3c73e583316a047b6bfefdae5629de37ce",
    "AfterClear": "0x3f20e55919cca701abb2a40ab72542b25ea7eed63a50f979dd2cd3231e5f488d",
    "TakeOrderV2": "0x10de99b9032184587540c04e1850dff94a7683ae1fcc9eb06098621c739c0275",
    "ClearV3": "0x6fa7f4c28634b0a9d6831401c45ae468195fb63aed07308935c35374ff5d9e39",
    "AfterClearV2": "0xd9fa84dd790c969daa5c33d8050dc06b4a9b59d5b42e2be5f5e8ae20447f618d",
    "TakeOrderV3": "0x194f1feb3b4d7076a2c272e774e792e0c48bb8c7aa1a9a3671c1cd6da9e6b4c1",
}
# The spec's TakeOrderV3 hash had SignedContextV1.context been uint256[]: not the one read.
TAKE_ORDER_V3_UINT_CONTEXT = "0xa7a56744bdb9ee1d97e21a5f06caa2acf48bcbfb98063189e10032575586f2b6"
ORDER = RaindexOrder(owner="0x" + "11" * 20, inputs=(), outputs=())


def ref(log_index: int) -> LogRef:
    return LogRef(7, "0x" + "ab" * 32, "0x" + "cd" * 32, log_index, 1_700_000_000)


def clear(log_index: int, generation: Generation = Generation.V4) -> ClearHalf:
    return ClearHalf(ref(log_index), generation, ORDER, ORDER, (0, 0, 0, 0))


def after(log_index: int, amount: int, generation: Generation = Generation.V4) -> AfterClearAmounts:
    return AfterClearAmounts(ref(log_index), generation, amount, amount, amount, amount)


def test_the_topic0s_are_the_specs() -> None:
    assert {kind.name: kind.topic0 for kind in EVENT_KINDS} == SPEC_TOPIC0
    assert TAKE_ORDER_V3.topic0 != TAKE_ORDER_V3_UINT_CONTEXT


def test_a_float_word_is_read_as_an_unsigned_integer() -> None:
    word = bytes.fromhex("ffffffee00000000000000000000000000000000000000001bc16d674ec80000")
    data = encode(["address", "(bytes32,bytes32,bytes32,bytes32)"], [ORDER.owner, (word,) * 4])

    decoded = decode_log(AFTER_CLEAR_V2, ref(3), 1, data)

    assert decoded == AfterClearAmounts(ref(3), Generation.V5, *(int(word.hex(), 16),) * 4)
    assert decoded.alice_output == (0xFFFFFFEE << 224) + 2 * 10**18


def test_data_of_another_shape_or_indexed_topics_do_not_decode() -> None:
    with pytest.raises(LogDecodeError, match=r"^ClearV2 does not decode"):
        decode_log(CLEAR_V2, ref(0), 1, b"\x00" * 31)
    with pytest.raises(LogDecodeError, match=r"AfterClear has 2 topics, expected 1"):
        decode_log(
            AFTER_CLEAR,
            ref(0),
            2,
            encode(["address", "(uint256,uint256,uint256,uint256)"], [ORDER.owner, (1, 2, 3, 4)]),
        )


def test_each_clear_takes_the_first_after_clear_before_the_next_clear() -> None:
    paired = pair_clears([clear(0), after(1, 10), clear(2), after(3, 20)])

    assert [(e.ref.log_index, e.alice_input) for e in paired.events] == [(0, 10), (2, 20)]
    assert all(isinstance(e, ClearEvent) for e in paired.events)
    assert paired.complete


def test_a_clear_whose_after_clear_is_missing_does_not_borrow_the_next_ones() -> None:
    paired = pair_clears([clear(0), clear(2), after(3, 20)])

    assert [e.ref.log_index for e in paired.unpaired_clears] == [0]
    assert [(e.ref.log_index, e.alice_input) for e in paired.events] == [(2, 20)]
    assert not paired.complete


def test_an_after_clear_of_the_other_generation_is_not_a_clears() -> None:
    paired = pair_clears([clear(0), after(1, 10, Generation.V5), after(2, 30)])

    assert [(e.ref.log_index, e.alice_input) for e in paired.events] == [(0, 30)]
    assert [a.ref.log_index for a in paired.unused_after_clears] == [1]


@pytest.mark.parametrize(
    ("url", "secrets", "shown"),
    [
        (
            "https://base.example.com/v2/AbCdEf0123456789",
            ["AbCdEf0123456789"],
            "https://base.example.com/***",
        ),
        (
            "https://rpc.example.com/?apikey=ZZZZ99998888",
            ["ZZZZ99998888"],
            "https://rpc.example.com/***",
        ),
        (
            "https://user:pa55word!@rpc.example.com:8443",
            ["pa55word!"],
            "https://rpc.example.com:8443/***",
        ),
        ("http://127.0.0.1:8545", [], "http://127.0.0.1:8545"),
    ],
)
def test_an_rpc_urls_secrets_are_kept_out_of_messages(
    url: str, secrets: list[str], shown: str
) -> None:
    redactor = UrlRedactor(url)
    message = f"POST {url} failed; path {url.split('//', 1)[1]}; " + " ".join(secrets)

    cleaned = redactor.clean(message)

    assert redactor.shown == shown
    assert all(secret not in cleaned for secret in secrets)
    assert f"POST {shown} failed" in cleaned


def test_an_rpc_url_without_a_host_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidInput, match=r"expected http:// or https:// with a host") as raised:
        UrlRedactor("wss:///secret-key-12345")
    assert "secret-key-12345" not in str(raised.value)


ORDERBOOK = "0x" + "0b" * 20


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"orderbook": "0x1234"}, r"orderbook address '0x1234': expected 0x followed by 40"),
        ({"cutoff": -1}, r"cutoff -1: expected a confirmation depth .* or one of 'safe', 'final"),
        ({"cutoff": "latest"}, r"cutoff 'latest': expected a confirmation depth"),
        ({"keep_blocks": 0}, r"keep_blocks 0: expected at least 1 block"),
        ({"max_parallel_requests": 0}, r"max_parallel_requests 0: expected >= 1"),
        ({"timeout_s": 0}, r"RPC timeout 0 s: expected a positive number of seconds"),
        ({"rpc_url": "ftp://node.example/key"}, r"RPC URL 'ftp://node.example' is not usable"),
    ],
)
def test_a_misconfigured_source_is_refused_with_the_setting_named(
    kwargs: dict[str, Any], expected: str
) -> None:
    settings: dict[str, Any] = {"rpc_url": "http://127.0.0.1:8545", "orderbook": ORDERBOOK}
    settings.update(kwargs)
    rpc_url, orderbook = settings.pop("rpc_url"), settings.pop("orderbook")

    with pytest.raises(InvalidInput, match=expected):
        RaindexChain(rpc_url, orderbook, **settings)


async def test_bad_block_numbers_are_refused_before_any_request() -> None:
    # port 9 answers nothing: any request would fail with a ChainError, not InvalidInput
    async with RaindexChain("http://127.0.0.1:9", ORDERBOOK) as source:
        assert source.endpoint == "http://127.0.0.1:9"
        with pytest.raises(InvalidInput, match=r"block range 5..4: expected 0 <= from_block"):
            await source.read_range(5, 4)
        with pytest.raises(InvalidInput, match=r"block number -1: expected 0 or more"):
            await source.shares_per_token(ORDERBOOK, -1)

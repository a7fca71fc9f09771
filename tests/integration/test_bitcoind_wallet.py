"""The Bitcoin Core wallet adapter against a local JSON-RPC server that answers as bitcoind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest

from pegkeeper.adapters.wallet.bitcoind import BitcoindSettings, BitcoindWallet
from pegkeeper.domain.errors import NotFound, OrderRejected, VenueUnavailable, VenueUncertain
from tests.bitcoind_server import (
    PASSWORD,
    START_MS,
    USER,
    WALLET,
    FakeBitcoind,
    running_bitcoind,
)

EXCHANGE_ADDRESS = "bc1qexchangedepositaddress000000000000000000"


@asynccontextmanager
async def wallet_on(
    node: FakeBitcoind, password: str = PASSWORD, wallet: str = WALLET, timeout_s: float = 5
) -> AsyncIterator[BitcoindWallet]:
    adapter = BitcoindWallet(BitcoindSettings(node.url, wallet, USER, password, timeout_s))
    try:
        yield adapter
    finally:
        await adapter.close()


async def test_a_replaceable_payment_is_sent_exactly_and_read_back() -> None:
    async with running_bitcoind(balance_sats=300_000_000) as node, wallet_on(node) as wallet:
        assert await wallet.balance_sats() == 300_000_000
        address = await wallet.new_address()
        assert address.startswith("bcrt1q")
        tx_id = await wallet.send(EXCHANGE_ADDRESS, 50_000_417, Decimal(10), "op1")
        method, params = node.requests[-1]
        # amounts travel as exact decimal strings, with replace-by-fee and the operation id
        assert method == "sendtoaddress"
        assert params["amount"] == "0.50000417" and params["replaceable"] is True
        assert (params["fee_rate"], params["comment"]) == ("10.000", "op1")
        tx = await wallet.transaction(tx_id)
        # 141 vB at 10 sat/vB = 1 410 sats of fee on top of the payment
        assert (tx.amount_sats, tx.fee_sats, tx.fee_rate_sat_vb) == (50_000_417, 1_410, 10)
        assert tx.confirmations == 0 and tx.replaceable and tx.comment == "op1"
        assert await wallet.balance_sats() == 300_000_000 - 50_000_417 - 1_410
        node.mine()
        assert (await wallet.transaction(tx_id)).confirmations == 1


async def test_a_fee_bump_replaces_the_transaction_with_the_same_payment() -> None:
    async with running_bitcoind() as node, wallet_on(node) as wallet:
        node.chain.min_fee_rate_sat_vb = Decimal(20)  # a congested mempool
        first = await wallet.send(EXCHANGE_ADDRESS, 10_000_000, Decimal(2), "op2")
        node.mine()
        assert (await wallet.transaction(first)).confirmations == 0  # stuck
        with pytest.raises(OrderRejected, match="Insufficient total fee") as too_low:
            await wallet.bump_fee(first, Decimal("2.5"))
        assert too_low.value.code == "-8"
        second = await wallet.bump_fee(first, Decimal(25))
        old, new = await wallet.transaction(first), await wallet.transaction(second)
        assert old.replaced_by_tx_id == second
        assert (new.amount_sats, new.fee_sats) == (10_000_000, 3_525)  # 141 x 25
        node.mine()
        assert (await wallet.transaction(second)).confirmations == 1
        assert (await wallet.transaction(first)).confirmations == -1  # conflicted
        # both are found by the operation id
        found = await wallet.find_sent("op2", START_MS)
        assert {t.tx_id for t in found} == {first, second}


async def test_insufficient_funds_is_a_refusal_that_sends_nothing() -> None:
    async with running_bitcoind(balance_sats=1_000) as node, wallet_on(node) as wallet:
        with pytest.raises(OrderRejected, match="Insufficient funds") as refused:
            await wallet.send(EXCHANGE_ADDRESS, 5_000, Decimal(1), "op3")
        assert refused.value.code == "-6"
        assert await wallet.balance_sats() == 1_000 and node.chain.sent() == []


async def test_a_send_whose_answer_is_lost_is_uncertain_and_found_by_its_comment() -> None:
    async with running_bitcoind() as node, wallet_on(node, timeout_s=0.3) as wallet:
        node.delay_next_seconds = 1.0  # the node sends, the answer comes after the timeout
        with pytest.raises(VenueUncertain):
            await wallet.send(EXCHANGE_ADDRESS, 1_000_000, Decimal(5), "op4")
        (found,) = await wallet.find_sent("op4", START_MS)
        assert found.amount_sats == 1_000_000 and len(node.chain.sent()) == 1


async def test_a_send_is_found_by_its_comment_behind_many_later_payments() -> None:
    async with running_bitcoind(balance_sats=10**10) as node, wallet_on(node) as wallet:
        first = await wallet.send(EXCHANGE_ADDRESS, 1_000_000, Decimal(5), "op5")
        for n in range(450):  # more than two pages of 200 came after it
            node.chain.send(EXCHANGE_ADDRESS, 10_000 + n, Decimal(5), f"later{n}")
        (found,) = await wallet.find_sent("op5", START_MS)
        assert (found.tx_id, found.amount_sats) == (first, 1_000_000)
        pages = [p for m, p in node.requests if m == "listtransactions"]
        assert [(p["count"], p["skip"]) for p in pages] == [(200, 0), (200, 200), (200, 400)]


async def test_bad_credentials_a_missing_wallet_and_an_unknown_transaction() -> None:
    async with running_bitcoind() as node:
        async with wallet_on(node, password="wrong") as wallet:
            with pytest.raises(VenueUnavailable, match="refused the credentials") as refused:
                await wallet.balance_sats()
            assert "wrong" not in str(refused.value)
        async with wallet_on(node, wallet="other") as wallet:
            with pytest.raises(VenueUnavailable, match="wallet does not exist") as missing:
                await wallet.balance_sats()
            assert missing.value.code == "-18"
        async with wallet_on(node) as wallet:
            with pytest.raises(NotFound, match="non-wallet transaction"):
                await wallet.transaction("00" * 32)


async def test_an_unreachable_node_is_unavailable() -> None:
    adapter = BitcoindWallet(BitcoindSettings("http://127.0.0.1:1", WALLET, USER, PASSWORD, 1))
    try:
        with pytest.raises(VenueUnavailable, match="not reachable"):
            await adapter.send(EXCHANGE_ADDRESS, 1_000, Decimal(1), "op5")
    finally:
        await adapter.close()

"""Mint and redeem through the Broker API's tokenization endpoints: the shares leave the
account when the mint is asked for and come back when it is rejected, the tokens arrive onchain
when it completes, a repeated or uncertain mint is found by its issuer_request_id and never
sent twice, and tokens sent to the redemption wallet become a redeem matched by hash."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

from pegkeeper.domain.equities.transfers import (
    TokenizationKind,
    TokenizationStatus,
)
from pegkeeper.domain.errors import NotFound, OrderRejected, VenueUncertain
from tests.integration.brokers.rebalancing.conftest import (
    ACCOUNT_ID,
    KEY_ID,
    MAKER_WALLET,
    REDEMPTION_WALLET,
    SECRET_KEY,
    START_MS,
    Inventory,
)

TOKEN_UNITS_PER_SHARE = 10**18


async def test_a_mint_journals_the_shares_out_then_completes_with_the_tokens_onchain(
    inventory: Inventory,
) -> None:
    asked = await inventory.adapter.request_mint("AAPL", Decimal("2.5"), MAKER_WALLET, "mint-0001")

    assert asked.status is TokenizationStatus.PENDING
    assert (asked.kind, asked.symbol, asked.qty) == (TokenizationKind.MINT, "AAPL", Decimal("2.5"))
    assert asked.issuer_request_id == "mint-0001"
    assert asked.created_ms == START_MS
    assert inventory.account.positions["AAPL"].qty == Decimal("7.5")  # 10 - 2.5, at once

    done = await inventory.adapter.tokenization_request_by_issuer_id("mint-0001")

    token = inventory.chain.tokens["AAPL"]
    assert done.status is TokenizationStatus.COMPLETED
    assert done.request_id == asked.request_id
    assert done.tx_hash == inventory.chain.logs[-1].tx_hash
    assert inventory.chain.balance(token, MAKER_WALLET) == 2_500_000_000_000_000_000
    assert inventory.account.positions["AAPL"].qty == Decimal("7.5")


async def test_a_rejected_mint_gives_the_shares_back_and_mints_nothing(
    inventory: Inventory,
) -> None:
    inventory.sim.tokenization.reject_next_mint()

    await inventory.adapter.request_mint("AAPL", Decimal(4), MAKER_WALLET, "mint-0002")
    assert inventory.account.positions["AAPL"].qty == Decimal(6)
    [seen] = await inventory.adapter.tokenization_requests(TokenizationKind.MINT, START_MS)

    assert seen.status is TokenizationStatus.REJECTED
    assert seen.tx_hash == ""
    assert inventory.account.positions["AAPL"].qty == Decimal(10)
    assert inventory.chain.logs == []


async def test_a_mint_of_more_shares_than_held_is_refused_with_alpacas_answer(
    inventory: Inventory,
) -> None:
    with pytest.raises(OrderRejected) as refused:
        await inventory.adapter.request_mint("AAPL", Decimal("10.5"), MAKER_WALLET, "mint-big")

    assert "HTTP 400" in str(refused.value)
    assert "insufficient position for AAPL (requested: 10.5, available: 10)" in str(refused.value)
    assert inventory.sim.tokenization.requests == {}
    assert inventory.account.positions["AAPL"].qty == Decimal(10)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("qty", "1.0000000001", "invalid qty '1.0000000001': at most 9 decimal places"),
        ("qty", "-1", "invalid qty '-1'"),
        ("wallet_address", "0x1234", "invalid wallet_address '0x1234'"),
        ("underlying_symbol", "", "invalid underlying_symbol ''"),
    ],
)
async def test_a_bad_mint_body_is_answered_422_naming_the_field(
    inventory: Inventory, field: str, value: str, named: str
) -> None:
    body = {
        "underlying_symbol": "AAPL",
        "qty": "1",
        "issuer": "st0x",
        "network": "base",
        "wallet_address": MAKER_WALLET,
        "issuer_request_id": "mint-bad",
        field: value,
    }
    headers = {"Authorization": aiohttp.encode_basic_auth(KEY_ID, SECRET_KEY)}
    async with aiohttp.ClientSession(headers=headers) as session:
        url = f"{inventory.server.url}/v1/accounts/{ACCOUNT_ID}/tokenization/mint"
        async with session.post(url, json=body) as answer:
            status, error = answer.status, await answer.json()

    assert status == 422
    assert named in error["message"]
    assert inventory.sim.tokenization.requests == {}


async def test_a_mint_sent_again_with_its_issuer_request_id_is_adopted_not_repeated(
    inventory: Inventory,
) -> None:
    first = await inventory.adapter.request_mint("AAPL", Decimal(3), MAKER_WALLET, "mint-0003")
    again = await inventory.adapter.request_mint("AAPL", Decimal(3), MAKER_WALLET, "mint-0003")

    assert again.request_id == first.request_id
    assert inventory.sim.tokenization.mint_posts["mint-0003"] == 2  # the second was refused
    assert len(inventory.sim.tokenization.of_issuer_id("mint-0003")) == 1
    assert inventory.account.positions["AAPL"].qty == Decimal(7)  # 3 shares out, once


async def test_an_issuer_request_id_taken_by_another_mint_is_refused(
    inventory: Inventory,
) -> None:
    await inventory.adapter.request_mint("AAPL", Decimal(3), MAKER_WALLET, "mint-0004")

    with pytest.raises(OrderRejected, match="taken at alpaca by a mint of 3 AAPL"):
        await inventory.adapter.request_mint("AAPL", Decimal(2), MAKER_WALLET, "mint-0004")
    assert inventory.account.positions["AAPL"].qty == Decimal(7)


async def test_a_5xx_after_the_mint_was_recorded_is_resolved_by_lookup(
    inventory: Inventory,
) -> None:
    inventory.server.faults.fail_after_accept_next()

    found = await inventory.adapter.request_mint("AAPL", Decimal(1), MAKER_WALLET, "mint-0005")

    assert inventory.sim.tokenization.mint_posts["mint-0005"] == 1
    assert len(inventory.sim.tokenization.of_issuer_id("mint-0005")) == 1
    assert found.issuer_request_id == "mint-0005"
    assert found.qty == Decimal(1)
    assert inventory.account.positions["AAPL"].qty == Decimal(9)


async def test_a_5xx_before_the_mint_was_recorded_stays_uncertain_and_nothing_is_sent_again(
    inventory: Inventory,
) -> None:
    inventory.server.faults.fail_next()

    with pytest.raises(VenueUncertain, match="look it up again before sending it"):
        await inventory.adapter.request_mint("AAPL", Decimal(1), MAKER_WALLET, "mint-0006")
    assert inventory.sim.tokenization.mint_posts["mint-0006"] == 0
    assert inventory.account.positions["AAPL"].qty == Decimal(10)


async def test_an_unknown_issuer_request_id_is_not_found(inventory: Inventory) -> None:
    with pytest.raises(NotFound):
        await inventory.adapter.tokenization_request_by_issuer_id("never-sent")


async def test_tokens_sent_to_the_redemption_wallet_become_a_redeem_matched_by_hash(
    inventory: Inventory,
) -> None:
    token = inventory.chain.tokens["AAPL"]
    inventory.chain.transfer(token, "0x" + "00" * 20, MAKER_WALLET, 5 * TOKEN_UNITS_PER_SHARE)
    sent = inventory.chain.transfer(
        token, MAKER_WALLET, REDEMPTION_WALLET, 1_250_000_000_000_000_000
    )

    [first] = await inventory.adapter.tokenization_requests(TokenizationKind.REDEEM, START_MS)
    assert (first.tx_hash, first.status) == (sent, TokenizationStatus.PENDING)
    assert inventory.account.positions["AAPL"].qty == Decimal(10)

    [later] = await inventory.adapter.tokenization_requests(TokenizationKind.REDEEM, START_MS)
    assert (later.tx_hash, later.status) == (sent, TokenizationStatus.COMPLETED)
    assert later.qty == Decimal("1.25")
    assert inventory.account.positions["AAPL"].qty == Decimal("11.25")  # 10 + 1.25


async def test_a_rejected_redeem_credits_no_shares(inventory: Inventory) -> None:
    token = inventory.chain.tokens["AAPL"]
    inventory.sim.tokenization.reject_next_redeem()
    sent = inventory.chain.transfer(
        token, "0x" + "00" * 20, REDEMPTION_WALLET, TOKEN_UNITS_PER_SHARE
    )

    await inventory.adapter.tokenization_requests(TokenizationKind.REDEEM, START_MS)
    [seen] = await inventory.adapter.tokenization_requests(TokenizationKind.REDEEM, START_MS)

    assert (seen.tx_hash, seen.status) == (sent, TokenizationStatus.REJECTED)
    assert inventory.account.positions["AAPL"].qty == Decimal(10)


async def test_a_mint_waits_its_delay_on_the_books_clock(inventory: Inventory) -> None:
    inventory.sim.tokenization.mint_delay_ms = 60_000
    await inventory.adapter.request_mint("AAPL", Decimal(1), MAKER_WALLET, "mint-0007")

    early = await inventory.adapter.tokenization_request_by_issuer_id("mint-0007")
    inventory.clock.advance(60)
    late = await inventory.adapter.tokenization_request_by_issuer_id("mint-0007")

    assert early.status is TokenizationStatus.PENDING
    assert late.status is TokenizationStatus.COMPLETED

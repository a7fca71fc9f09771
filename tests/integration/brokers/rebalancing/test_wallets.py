"""The USDC wallet through the Broker API: the deposit address, withdrawals through their
states to an onchain send (or a failure that returns the USDC), the minimum and the whitelist
refused with Alpaca's answer, deposits found onchain and credited, and an uncertain
withdrawal found by amount, address and time instead of being sent again."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.domain.equities.transfers import WalletDirection, WalletTransferStatus
from pegkeeper.domain.errors import OrderRejected, VenueUncertain
from pegkeeper.sim.brokers.alpaca_chain import ZERO_ADDRESS
from tests.integration.brokers.rebalancing.conftest import (
    DEPOSIT_ADDRESS,
    MAKER_WALLET,
    START_MS,
    Inventory,
)


def usdc_held(inventory: Inventory) -> Decimal:
    return inventory.account.positions["USDCUSD"].qty


async def test_the_deposit_address_is_the_wallets(inventory: Inventory) -> None:
    assert await inventory.adapter.deposit_address("USDC") == DEPOSIT_ADDRESS


async def test_a_withdrawal_goes_pending_processing_complete_with_the_usdc_sent_onchain(
    inventory: Inventory,
) -> None:
    asked = await inventory.adapter.withdraw_usdc(Decimal("120.1234567"), MAKER_WALLET)

    assert asked.status is WalletTransferStatus.PENDING
    assert asked.amount == Decimal("120.123456")  # floored to 6 dp before sending
    assert (asked.direction, asked.address) == (WalletDirection.OUTGOING, MAKER_WALLET)
    assert usdc_held(inventory) == Decimal("379.876544")  # 500 - 120.123456, at once

    [processing] = await inventory.adapter.wallet_transfers(START_MS)
    [complete] = await inventory.adapter.wallet_transfers(START_MS)

    assert processing.status is WalletTransferStatus.PROCESSING
    assert processing.tx_hash == inventory.chain.logs[-1].tx_hash
    assert complete.status is WalletTransferStatus.COMPLETE
    assert inventory.chain.balance(inventory.chain.usdc_token, MAKER_WALLET) == 120_123_456
    assert usdc_held(inventory) == Decimal("379.876544")


async def test_a_failed_withdrawal_returns_the_usdc_and_sends_nothing(
    inventory: Inventory,
) -> None:
    inventory.sim.wallets.fail_next_withdrawal()

    await inventory.adapter.withdraw_usdc(Decimal(200), MAKER_WALLET)
    assert usdc_held(inventory) == Decimal(300)
    [failed] = await inventory.adapter.wallet_transfers(START_MS)

    assert failed.status is WalletTransferStatus.FAILED
    assert failed.tx_hash == ""
    assert usdc_held(inventory) == Decimal(500)
    assert inventory.chain.logs == []


async def test_a_withdrawal_below_the_minimum_is_refused_with_a_clear_error(
    inventory: Inventory,
) -> None:
    with pytest.raises(OrderRejected) as refused:
        await inventory.adapter.withdraw_usdc(Decimal("50.99"), MAKER_WALLET)

    message = str(refused.value)
    assert "alpaca refused the withdrawal of 50.99 USDC to " + MAKER_WALLET in message
    assert "withdrawal amount 50.99 is below the minimum of 51 USD" in message
    assert "nothing was sent" in message
    assert inventory.sim.wallets.transfers == {}
    assert usdc_held(inventory) == Decimal(500)


async def test_a_withdrawal_to_an_address_not_whitelisted_is_refused(
    inventory: Inventory,
) -> None:
    stranger = "0x" + "44" * 20

    with pytest.raises(OrderRejected, match="is not an approved whitelisted address"):
        await inventory.adapter.withdraw_usdc(Decimal(60), stranger)
    assert usdc_held(inventory) == Decimal(500)


async def test_a_withdrawal_of_more_than_held_is_refused(inventory: Inventory) -> None:
    with pytest.raises(OrderRejected, match=r"requested: 500\.5, available: 500\)"):
        await inventory.adapter.withdraw_usdc(Decimal("500.5"), MAKER_WALLET)


async def test_a_deposit_onchain_is_found_and_credited(inventory: Inventory) -> None:
    usdc = inventory.chain.usdc_token
    inventory.chain.transfer(usdc, ZERO_ADDRESS, MAKER_WALLET, 80_000_000)
    sent = inventory.chain.transfer(usdc, MAKER_WALLET, DEPOSIT_ADDRESS, 75_500_000)

    [seen] = await inventory.adapter.wallet_transfers(START_MS)
    assert (seen.direction, seen.status) == (
        WalletDirection.INCOMING,
        WalletTransferStatus.PROCESSING,
    )
    assert usdc_held(inventory) == Decimal(500)
    [credited] = await inventory.adapter.wallet_transfers(START_MS)

    assert (credited.tx_hash, credited.address) == (sent, MAKER_WALLET)
    assert credited.amount == Decimal("75.5")
    assert credited.status is WalletTransferStatus.COMPLETE
    assert usdc_held(inventory) == Decimal("575.5")
    assert await inventory.adapter.usdc_balance() == Decimal("575.5")


async def test_an_uncertain_withdrawal_is_found_by_amount_address_and_time(
    inventory: Inventory,
) -> None:
    inventory.server.faults.fail_after_accept_next()

    with pytest.raises(VenueUncertain):
        await inventory.adapter.withdraw_usdc(Decimal("64.25"), MAKER_WALLET)
    found = await inventory.adapter.matching_withdrawal(Decimal("64.25"), MAKER_WALLET, START_MS)
    other = await inventory.adapter.matching_withdrawal(Decimal("64.26"), MAKER_WALLET, START_MS)

    assert inventory.sim.wallets.withdrawal_posts == 1
    assert found is not None and found.amount == Decimal("64.25")
    assert other is None
    assert usdc_held(inventory) == Decimal("435.75")

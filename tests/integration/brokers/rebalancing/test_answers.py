"""States Alpaca may add later read as not final, so a caller keeps polling instead of taking
an unknown word for an end."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.brokers.alpaca_inventory_shapes import tokenization_request, wallet_transfer
from pegkeeper.domain.equities.transfers import TokenizationStatus, WalletTransferStatus


def test_an_unknown_tokenization_status_is_pending() -> None:
    answer = {
        "tokenization_request_id": "t-1",
        "type": "mint",
        "status": "awaiting_issuer",
        "underlying_symbol": "AAPL",
        "qty": "1.5",
        "fees": "0.25",
        "created_at": "2024-01-10T15:00:00.000000Z",
    }

    seen = tokenization_request(answer)

    assert seen.status is TokenizationStatus.PENDING
    assert not seen.status.is_final
    assert (seen.qty, seen.fees_usd, seen.created_ms) == (
        Decimal("1.5"),
        Decimal("0.25"),
        1_704_898_800_000,
    )


def test_an_unknown_wallet_transfer_status_keeps_polling() -> None:
    answer = {
        "id": "w-1",
        "direction": "OUTGOING",
        "amount": "55",
        "asset": "USDC",
        "to_address": "0xF38ECF5764FD2DECB0DD9C1E7513A0B6EC0DD08A",
        "status": "QUEUED",
        "network_fee": "0.5",
        "fees": "0.3025",
    }

    seen = wallet_transfer(answer)

    assert seen.status is WalletTransferStatus.PENDING
    assert not seen.status.is_final
    assert seen.address == "0xf38ecf5764fd2decb0dd9c1e7513a0b6ec0dd08a"
    assert seen.fees == Decimal("0.8025")  # 0.3025 + 0.5

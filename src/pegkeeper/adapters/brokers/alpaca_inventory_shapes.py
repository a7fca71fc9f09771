"""Alpaca's Broker API answers for inventory moves read into the records of
domain/equities/transfers.py: tokenization requests, wallet transfers and the USDC/USD order.

States Alpaca may add later are read as not final: an unknown tokenization status is
PENDING, an unknown wallet transfer status is PENDING (the caller keeps polling), an unknown
order status is WORKING."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pegkeeper.adapters.brokers.alpaca_states import (
    answer_object,
    decimal_field,
    required_decimal,
    time_ms,
)
from pegkeeper.domain.equities.transfers import (
    CashConversion,
    ConversionState,
    TokenizationKind,
    TokenizationRequest,
    TokenizationStatus,
    WalletDirection,
    WalletTransfer,
    WalletTransferStatus,
)
from pegkeeper.domain.errors import VenueUncertain
from pegkeeper.domain.orders import OrderSide

ZERO = Decimal(0)
USDC_SYMBOLS = frozenset({"USDC/USD", "USDCUSD"})
_TOKENIZATION_STATUS = {s.value: s for s in TokenizationStatus}
_WALLET_STATUS = {s.value: s for s in WalletTransferStatus}
# order statuses after which a conversion fills no more (Alpaca's closed order statuses)
_ENDED = frozenset({"canceled", "expired", "rejected", "done_for_day", "replaced", "stopped"})


def tokenization_request(item: Any) -> TokenizationRequest:
    answer = answer_object(item, "tokenization request")
    request_id = str(answer.get("tokenization_request_id") or "")
    kind = str(answer.get("type") or "").lower()
    if not request_id or kind not in (TokenizationKind.MINT, TokenizationKind.REDEEM):
        raise VenueUncertain(f"alpaca answered a tokenization request without id or type: {item}")
    status = str(answer.get("status") or "").lower()
    return TokenizationRequest(
        request_id=request_id,
        kind=TokenizationKind(kind),
        status=_TOKENIZATION_STATUS.get(status, TokenizationStatus.PENDING),
        symbol=str(answer.get("underlying_symbol") or ""),
        qty=required_decimal(answer, "qty"),
        issuer_request_id=str(answer.get("issuer_request_id") or ""),
        tx_hash=str(answer.get("tx_hash") or "").lower(),
        fees_usd=decimal_field(answer, "fees", ZERO),
        created_ms=time_ms(answer.get("created_at")) or 0,
    )


def wallet_transfer(item: Any) -> WalletTransfer:
    """`fees` is what the transfer cost: Alpaca's `fees` and `network_fee` together."""
    answer = answer_object(item, "wallet transfer")
    direction = str(answer.get("direction") or "").upper()
    if not answer.get("id") or direction not in (
        WalletDirection.OUTGOING,
        WalletDirection.INCOMING,
    ):
        raise VenueUncertain(f"alpaca answered a wallet transfer without id or direction: {item}")
    outgoing = direction == WalletDirection.OUTGOING
    address = answer.get("to_address") if outgoing else answer.get("from_address")
    status = str(answer.get("status") or "").upper()
    return WalletTransfer(
        transfer_id=str(answer["id"]),
        direction=WalletDirection(direction),
        asset=str(answer.get("asset") or ""),
        amount=required_decimal(answer, "amount"),
        status=_WALLET_STATUS.get(status, WalletTransferStatus.PENDING),
        address=str(address or "").lower(),
        tx_hash=str(answer.get("tx_hash") or "").lower(),
        fees=decimal_field(answer, "fees", ZERO) + decimal_field(answer, "network_fee", ZERO),
        created_ms=time_ms(answer.get("created_at")) or 0,
    )


def cash_conversion(item: Any) -> CashConversion:
    order = answer_object(item, "order")
    status = str(order.get("status") or "")
    side = str(order.get("side") or "")
    if not order.get("id") or not status or side not in (OrderSide.BUY, OrderSide.SELL):
        raise VenueUncertain(f"alpaca answered an order without id, status or side: {item}")
    filled_qty = decimal_field(order, "filled_qty", ZERO)
    average = decimal_field(order, "filled_avg_price", ZERO)
    if status == "filled":
        state = ConversionState.FILLED
    elif status in _ENDED:
        state = ConversionState.FAILED
    else:
        state = ConversionState.WORKING
    return CashConversion(
        client_order_id=str(order.get("client_order_id") or ""),
        side=OrderSide(side),
        state=state,
        filled_qty_usdc=filled_qty,
        filled_notional_usd=filled_qty * average,
        message=f"alpaca order {status}" if state is ConversionState.FAILED else "",
    )


def is_conversion(item: Any) -> bool:
    symbol = str(answer_object(item, "order").get("symbol") or "").upper()
    return symbol in USDC_SYMBOLS


def usdc_position(positions: Any) -> Decimal:
    """The USDC the account holds: its `USDCUSD` position (0 when there is none)."""
    if not isinstance(positions, list):
        raise VenueUncertain(f"alpaca answered positions that are not a list: {positions!r}")
    for item in positions:
        if isinstance(item, dict) and str(item.get("symbol") or "").upper() in USDC_SYMBOLS:
            return required_decimal(item, "qty")
    return ZERO


def items(answer: Any, what: str) -> list[Any]:
    if not isinstance(answer, list):
        raise VenueUncertain(f"alpaca answered {what} that are not a list: {answer!r}")
    return answer

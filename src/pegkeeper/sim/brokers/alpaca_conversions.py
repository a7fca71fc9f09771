"""The USD <-> USDC conversion on the simulated Alpaca: a crypto market order on `USDC/USD`
(or `USDCUSD`) through the order endpoints, placed here instead of in the book and read,
looked up by client order id and listed like any other order.

- a buy names dollars (`notional`, at most 2 decimals) or USDC (`qty`, at most 9); a sell
  names USDC (`qty`); time in force `gtc` or `ioc`;
- a buy holds its dollars plus Alpaca's collar (2 %): refused with 403 "insufficient balance
  for USD" when notional x (1 + collar) is more than the cash not held by open buys, so a buy
  of 100 % of the cash is refused and one of 98 % goes through;
- it fills whole when placed, at `price_usd` (near 1), the quantity truncated to 9 decimals;
  the USDC is the account's `USDCUSD` position.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

from pegkeeper.sim.brokers.alpaca_book import AlpacaBook
from pegkeeper.sim.brokers.alpaca_records import Order, OrderRefused, fill
from pegkeeper.sim.brokers.alpaca_shapes import number, order_json
from pegkeeper.sim.brokers.alpaca_tokenization import INVALID, positive_decimal
from pegkeeper.sim.brokers.alpaca_wallets import USDC_POSITION, usdc_of

SYMBOLS = frozenset({"USDC/USD", "USDCUSD"})
SHOWN_SYMBOL = "USDC/USD"
QTY_STEP = Decimal("0.000000001")
COLLAR = Decimal("0.02")
TIME_IN_FORCE = frozenset({"gtc", "ioc"})


class AlpacaConversions:
    def __init__(
        self, book: AlpacaBook, *, price_usd: Decimal = Decimal(1), collar: Decimal = COLLAR
    ) -> None:
        self.book = book
        self.collar = collar
        self._notional: dict[str, Decimal | None] = {}  # order id -> the notional it named
        self.price_usd = price_usd

    @property
    def price_usd(self) -> Decimal:
        return self.book.prices[USDC_POSITION]

    @price_usd.setter
    def price_usd(self, price: Decimal) -> None:
        self.book.prices[USDC_POSITION] = price

    def takes(self, body: dict[str, Any]) -> bool:
        return str(body.get("symbol") or "").upper() in SYMBOLS

    def place(self, account_id: str, body: dict[str, Any]) -> Order:
        account = self.book.account(account_id)
        if account.status != "ACTIVE" or account.trading_blocked or account.account_blocked:
            raise OrderRefused(403, 40310000, "account is not allowed to trade")
        side, tif, client_id = _checked_kind(body)
        if (account.id, client_id) in self.book.by_client_id:
            raise OrderRefused(422, 40010001, "client_order_id must be unique")
        notional, qty = self._size(body, side)
        self._check_funds(account_id, side, notional, qty)
        now_ms = self.book.now_ms()
        order = Order(
            id=str(uuid.uuid4()),
            account_id=account.id,
            client_order_id=client_id,
            symbol=USDC_POSITION,
            side=side,
            type="market",
            time_in_force=tif,
            qty=qty,
            limit_price=None,
            extended_hours=False,
            created_ms=now_ms,
            updated_ms=now_ms,
        )
        self.book.orders[order.id] = order
        self.book.by_client_id[(account.id, client_id)] = order.id
        self._notional[order.id] = notional
        order.steps.append(fill(price=self.price_usd))
        self.book.advance(order)
        return order

    def shape(self, order: Order) -> dict[str, Any] | None:
        if order.id not in self._notional:
            return None
        notional = self._notional[order.id]
        return {
            **order_json(order),
            "symbol": SHOWN_SYMBOL,
            "asset_class": "crypto",
            "notional": number(notional),
            "qty": None if notional is not None else number(order.qty),
            "position_intent": None,
        }

    def _size(self, body: dict[str, Any], side: str) -> tuple[Decimal | None, Decimal]:
        """(the notional named, or None; the USDC quantity the order fills)."""
        raw_notional, raw_qty = body.get("notional"), body.get("qty")
        if (raw_notional is None) == (raw_qty is None):
            raise OrderRefused(422, INVALID, "exactly one of qty and notional is required")
        if raw_notional is None:
            return None, positive_decimal(raw_qty, "qty", 9, "a positive amount of USDC")
        if side == "sell":
            raise OrderRefused(422, INVALID, "a sell of USDC/USD names qty, not notional")
        notional = positive_decimal(raw_notional, "notional", 2, "a positive amount of USD")
        qty = (notional / self.price_usd).quantize(QTY_STEP, rounding=ROUND_DOWN)
        return notional, qty

    def _check_funds(
        self, account_id: str, side: str, notional: Decimal | None, qty: Decimal
    ) -> None:
        account = self.book.account(account_id)
        if side == "sell":
            available = usdc_of(account)
            if qty > available:
                raise _insufficient("USDC", qty, available)
            return
        held = (notional if notional is not None else qty * self.price_usd) * (1 + self.collar)
        available = account.cash_usd - self.book.reserved_usd(account_id)
        if held > available:
            raise _insufficient("USD", held, available)


def _checked_kind(body: dict[str, Any]) -> tuple[str, str, str]:
    side = str(body.get("side") or "")
    kind = str(body.get("type") or body.get("order_type") or "")
    tif = str(body.get("time_in_force") or "")
    if side not in ("buy", "sell"):
        raise OrderRefused(422, INVALID, f"invalid side {side!r}: expected buy or sell")
    if kind != "market":
        raise OrderRefused(422, INVALID, f"invalid type {kind!r}: USDC/USD takes market orders")
    if tif not in TIME_IN_FORCE:
        raise OrderRefused(
            422, INVALID, f"invalid time_in_force {tif!r} for crypto: expected gtc or ioc"
        )
    client_id = str(body.get("client_order_id") or uuid.uuid4())
    if len(client_id) > 128:
        raise OrderRefused(422, 40010001, "client_order_id must be at most 128 characters")
    return side, tif, client_id


def _insufficient(asset: str, requested: Decimal, available: Decimal) -> OrderRefused:
    return OrderRefused(
        403,
        40310000,
        f"insufficient balance for {asset} (requested: {number(requested)}, "
        f"available: {number(available)})",
        balance=number(available) or "0",
        symbol=asset,
    )

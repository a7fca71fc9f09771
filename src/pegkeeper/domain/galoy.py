"""Galoy (Blink) dealer-account transactions, and how stablesats pairs them into user trades.

Facts from specs/galoy.md. A user trade shows in the dealer account as two transactions of one
ledger journal: one on the dealer's BTC wallet, one on its USD wallet, with the same `createdAt`.
The dealer's USD leg is negative when a user bought synthetic USD (the liability grows) and
positive when a user sold it back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import orjson

from pegkeeper.domain.liability import EVENT_ID_PATTERN

BTC = "BTC"
USD = "USD"
DIRECTIONS = ("SEND", "RECEIVE")
JOURNAL_MEMO_PREFIX = "JournalId:"
MAX_USD_GAP_CENTS = 1  # two legs without a journal memo pair when their USD values differ by <= 1
MAX_TX_ID_CHARS = 128


class MalformedResponse(ValueError):
    """Galoy's answer cannot be read at all (not one transaction of it can be stored)."""


@dataclass(frozen=True, slots=True)
class GaloyTransaction:
    """One transaction of the dealer account, as read (amounts in sats or cents, signed)."""

    tx_id: str
    cursor: str
    created_at_ms: int  # Galoy's createdAt (whole seconds) in milliseconds
    direction: str  # SEND | RECEIVE
    memo: str | None
    status: str
    settlement_amount: int  # sats for BTC, cents for USD; negative when the dealer paid out
    settlement_currency: str  # BTC | USD
    settlement_via: str  # the settlementVia __typename, e.g. SettlementViaIntraLedger
    usd_cents: int  # round_half_even(settlementAmount * base * 10^-offset)
    raw: str = field(default="", compare=False, repr=False)  # the node as received, JSON


@dataclass(frozen=True, slots=True)
class RejectedTransaction:
    """A transaction that could not be read; stored with the reason, never paired."""

    tx_id: str
    cursor: str
    reason: str
    raw: str = field(default="", compare=False, repr=False)


ParsedTransaction = GaloyTransaction | RejectedTransaction


@dataclass(frozen=True, slots=True)
class GaloyPage:
    """One answer of the transactions query, in Galoy's order: newest first."""

    transactions: list[ParsedTransaction]
    has_previous_page: bool  # newer transactions wait beyond this page

    @property
    def newest_cursor(self) -> str | None:
        return self.transactions[0].cursor if self.transactions else None


@dataclass(frozen=True, slots=True)
class UserTrade:
    """Two legs paired: what a user bought or sold, from the dealer's side."""

    btc_tx_id: str
    usd_tx_id: str
    created_at_ms: int
    usd_cents: int  # the dealer's USD leg, signed: negative when a user bought USD
    sats: int  # the dealer's BTC leg, signed
    matched_by: str  # "memo" (equal JournalId memos) or "amount" (USD values within 1 cent)

    @property
    def pair(self) -> tuple[str, str]:
        return self.btc_tx_id, self.usd_tx_id

    @property
    def delta_cents(self) -> int:
        """The change of the liability: minus the dealer's USD leg."""
        return -self.usd_cents


@dataclass(frozen=True, slots=True)
class StoredTrade:
    trade_id: str  # also the id of its liability event
    trade: UserTrade


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """A trade's (or a correction's) liability change, waiting to be posted to the ledger."""

    event_id: str
    delta_cents: int
    memo: str
    order_ms: int  # the trade's time: entries are posted oldest first


@dataclass(frozen=True, slots=True)
class GroupRepair:
    """What re-pairing the transactions of one `createdAt` changes: trades found wrong (to be
    reversed) and trades not stored yet."""

    wrong: list[StoredTrade]
    new: list[UserTrade]


# --- reading a transaction ------------------------------------------------------------------


def parse_edge(edge: object) -> ParsedTransaction:
    """A transaction, or a rejected one with the reason. Raises MalformedResponse when the edge
    has no cursor or node id, since such a thing cannot be stored once."""
    if not isinstance(edge, Mapping):
        raise MalformedResponse(f"a transaction edge must be an object, got {edge!r:.100}")
    cursor, node = edge.get("cursor"), edge.get("node")
    if not isinstance(cursor, str) or not cursor:
        raise MalformedResponse(f"a transaction edge has no cursor: {edge!r:.200}")
    if not isinstance(node, Mapping):
        raise MalformedResponse(f"the edge at cursor {cursor!r} has no node")
    tx_id = node.get("id")
    if not isinstance(tx_id, str) or not 0 < len(tx_id) <= MAX_TX_ID_CHARS:
        raise MalformedResponse(f"the node at cursor {cursor!r} has no usable id: {tx_id!r:.140}")
    raw = orjson.dumps(node, option=orjson.OPT_SORT_KEYS).decode()
    problems: list[str] = []
    created_s = _whole(node.get("createdAt"), "createdAt", "seconds", problems)
    direction = _choice(node.get("direction"), "direction", DIRECTIONS, problems)
    currency = _choice(node.get("settlementCurrency"), "settlementCurrency", (BTC, USD), problems)
    amount = _whole(node.get("settlementAmount"), "settlementAmount", "minor units", problems)
    usd_cents = _usd_value(node.get("settlementPrice"), amount, problems)
    via = _typename(node.get("settlementVia"), "settlementVia", problems)
    status = node.get("status")
    if not isinstance(status, str) or not status:
        problems.append(f"status must be a string, got {status!r:.60}")
    memo = node.get("memo")
    if memo is not None and not isinstance(memo, str):
        problems.append(f"memo must be a string or null, got {memo!r:.60}")
    if problems:
        return RejectedTransaction(tx_id, cursor, "; ".join(problems), raw)
    assert created_s is not None and amount is not None and usd_cents is not None
    return GaloyTransaction(
        tx_id=tx_id,
        cursor=cursor,
        created_at_ms=created_s * 1000,
        direction=str(direction),
        memo=memo if isinstance(memo, str) else None,
        status=str(status),
        settlement_amount=amount,
        settlement_currency=str(currency),
        settlement_via=str(via),
        usd_cents=usd_cents,
        raw=raw,
    )


def usd_value_cents(amount: int, base: int, offset: int) -> int:
    """round(amount * base * 10^-offset), halves to even (stablesats' Decimal::round), exact."""
    numerator = amount * base
    if offset <= 0:
        return numerator * int(10 ** abs(offset))
    return _div_round_half_even(numerator, 10**offset)


def _div_round_half_even(numerator: int, divisor: int) -> int:
    quotient, remainder = divmod(numerator, divisor)  # remainder >= 0 for a positive divisor
    if 2 * remainder > divisor or (2 * remainder == divisor and quotient % 2 == 1):
        quotient += 1
    return quotient


def _whole(value: object, name: str, unit: str, problems: list[str]) -> int | None:
    if value is None:
        problems.append(f"missing {name}")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float | str) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            number = Decimal("NaN")
        if number.is_finite() and number == number.to_integral_value():
            return int(number)
    problems.append(f"{name} must be a whole number of {unit}, got {value!r:.60}")
    return None


def _choice(value: object, name: str, allowed: Sequence[str], problems: list[str]) -> str | None:
    if isinstance(value, str) and value in allowed:
        return value
    what = f"missing {name}" if value is None else f"unknown {name} {value!r:.60}"
    problems.append(f"{what}; expected {' or '.join(allowed)}")
    return None


def _typename(value: object, name: str, problems: list[str]) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("__typename"), str):
        return str(value["__typename"])
    problems.append(f"{name} must be an object with its __typename, got {value!r:.60}")
    return None


def _usd_value(price: object, amount: int | None, problems: list[str]) -> int | None:
    if not isinstance(price, Mapping):
        problems.append(
            f"settlementPrice must be an object with base and offset, got {price!r:.60}"
        )
        return None
    base = _whole(price.get("base"), "settlementPrice.base", "units", problems)
    offset = _whole(price.get("offset"), "settlementPrice.offset", "digits", problems)
    if base is None or offset is None or amount is None:
        return None
    if not 0 <= offset <= 40:
        problems.append(f"settlementPrice.offset must be between 0 and 40, got {offset}")
        return None
    return usd_value_cents(amount, base, offset)


# --- pairing --------------------------------------------------------------------------------


def is_pair(a: GaloyTransaction, b: GaloyTransaction) -> bool:
    """stablesats' rule: same createdAt, different currencies and directions, the same
    settlement method; then equal memos when either is a journal memo, else USD values within
    one cent of each other."""
    if (
        a.created_at_ms != b.created_at_ms
        or a.settlement_currency == b.settlement_currency
        or a.direction == b.direction
        or a.settlement_via != b.settlement_via
    ):
        return False
    if _is_journal(a.memo) or _is_journal(b.memo):
        return a.memo == b.memo
    return abs(abs(a.usd_cents) - abs(b.usd_cents)) <= MAX_USD_GAP_CENTS


def _is_journal(memo: str | None) -> bool:
    return memo is not None and memo.startswith(JOURNAL_MEMO_PREFIX)


def pairable(tx: GaloyTransaction) -> bool:
    """Transactions worth nothing in USD are never paired nor waited for (stablesats)."""
    return tx.usd_cents != 0


def pair_transactions(
    transactions: Iterable[GaloyTransaction],
) -> tuple[list[UserTrade], list[GaloyTransaction]]:
    """(trades, transactions left unpaired). Each transaction, oldest first (then by id), takes
    the first later one that pairs with it, as stablesats does; sorting first makes the result
    the same whatever order the legs arrived in."""
    waiting = sorted(
        (tx for tx in transactions if pairable(tx)), key=lambda t: (t.created_at_ms, t.tx_id)
    )
    trades: list[UserTrade] = []
    unpaired: list[GaloyTransaction] = []
    while waiting:
        tx = waiting.pop(0)
        partner = next((other for other in waiting if is_pair(tx, other)), None)
        if partner is None:
            unpaired.append(tx)
            continue
        waiting.remove(partner)
        trades.append(_trade(tx, partner))
    return trades, unpaired


def _trade(a: GaloyTransaction, b: GaloyTransaction) -> UserTrade:
    btc, usd = (a, b) if a.settlement_currency == BTC else (b, a)
    return UserTrade(
        btc_tx_id=btc.tx_id,
        usd_tx_id=usd.tx_id,
        created_at_ms=usd.created_at_ms,
        usd_cents=usd.settlement_amount,
        sats=btc.settlement_amount,
        matched_by="memo" if _is_journal(usd.memo) else "amount",
    )


def repair_group(
    transactions: Iterable[GaloyTransaction], active: Sequence[StoredTrade]
) -> GroupRepair:
    """Pair one `createdAt`'s transactions afresh, paired ones included. A stored trade the
    fresh pairing does not make is wrong (it is reversed, never edited); fresh trades not yet
    stored are new."""
    fresh, _ = pair_transactions(transactions)
    fresh_pairs = {trade.pair for trade in fresh}
    active_pairs = {stored.trade.pair for stored in active}
    wrong = [stored for stored in active if stored.trade.pair not in fresh_pairs]
    new = [trade for trade in fresh if trade.pair not in active_pairs]
    return GroupRepair(wrong=wrong, new=new)


# --- what goes into the liability ledger ----------------------------------------------------


def trade_event_id(btc_tx_id: str, usd_tx_id: str, generation: int = 1) -> str:
    """The liability event id of a trade: the same pair gives the same id, so importing again
    posts nothing twice. `generation` counts pairings of the same two legs (after a correction)."""
    suffix = "" if generation == 1 else f"-g{generation}"
    readable = f"galoy-trade-{btc_tx_id}-{usd_tx_id}{suffix}"
    if EVENT_ID_PATTERN.match(readable):
        return readable
    digest = hashlib.sha256(f"{btc_tx_id}\n{usd_tx_id}\n{generation}".encode()).hexdigest()
    return f"galoy-trade-h{digest[:40]}"


def correction_event_id(trade_id: str) -> str:
    """The id of the event that reverses a trade's event."""
    readable = f"galoy-correction-{trade_id.removeprefix('galoy-trade-')}"
    if EVENT_ID_PATTERN.match(readable):
        return readable
    return f"galoy-correction-h{hashlib.sha256(trade_id.encode()).hexdigest()[:40]}"


def trade_memo(trade: UserTrade) -> str:
    side = "bought" if trade.usd_cents < 0 else "sold"
    usd = Decimal(abs(trade.usd_cents)) / 100
    return (
        f"galoy: a user {side} {usd:.2f} USD for {abs(trade.sats)} sats "
        f"(btc tx {trade.btc_tx_id}, usd tx {trade.usd_tx_id}, paired by {trade.matched_by})"
    )


def correction_memo(trade_id: str) -> str:
    return f"galoy: reverses {trade_id}, a pairing found wrong when its legs were checked again"

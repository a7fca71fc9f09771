"""OKX v5 JSON into pegkeeper's types. Every number arrives as a string and stays a Decimal."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pegkeeper.domain.errors import NotFound, VenueUnavailable
from pegkeeper.domain.instruments import ContractType, Instrument, InstrumentKind
from pegkeeper.domain.orders import Fill, OrderReport, OrderState
from pegkeeper.domain.venue import (
    AccountConfig,
    DepositRecord,
    DepositState,
    FundingPayment,
    FundingRate,
    MovementState,
    SettledFundingRate,
    TransferReport,
    VenueBalances,
    VenuePosition,
    WithdrawalReport,
)

Json = Mapping[str, Any]
ZERO = Decimal(0)
ORDER_STATES = {
    "live": OrderState.ACCEPTED,
    "partially_filled": OrderState.PARTIALLY_FILLED,
    "filled": OrderState.FILLED,
    "canceled": OrderState.CANCELED,
    "mmp_canceled": OrderState.CANCELED,
}
ACCOUNTS = {"6": "funding", "18": "trading"}
ACCOUNT_IDS = {"funding": "6", "trading": "18"}
# the chain of an onchain deposit, as OKX names it (the same chain a withdrawal goes out on)
DEPOSIT_CHAINS = {"BTC": "BTC-Bitcoin"}
TRANSFER_STATES = {"success": MovementState.DONE, "failed": MovementState.FAILED}
# Only 2 (successful) and 13 are final; 1 is credited but not yet withdrawable: treating it as
# done caused duplicate deposits at Galoy. 0, 8, 12 and any other code wait.
DEPOSIT_CREDITED_STATES = frozenset({"2", "13"})
WITHDRAWAL_STATES = {
    "2": MovementState.DONE,
    "-1": MovementState.FAILED,
    "-2": MovementState.FAILED,
}


def millis(value: Any) -> int:
    """An OKX timestamp string in milliseconds; 0 when absent or not a number."""
    text = str(value or "")
    return int(text) if text.isdigit() else 0


def number_text(value: Decimal) -> str:
    """A decimal as OKX takes it: plain digits, no exponent, no trailing zeros."""
    return format(value.normalize(), "f") if value != 0 else "0"


def decimal(value: Any, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise VenueUnavailable(f"OKX sent {field}={value!r}, not a number") from None
    if not number.is_finite():
        raise VenueUnavailable(f"OKX sent {field}={value!r}, not a finite number")
    return number


def decimal_or_none(value: Any, field: str) -> Decimal | None:
    return None if value in (None, "") else decimal(value, field)


def instrument(info: Json) -> Instrument:
    kind = InstrumentKind.SWAP if info["instType"] == "SWAP" else InstrumentKind.FUTURE
    expiry = info.get("expTime") or None
    return Instrument(
        instrument_id=info["instId"],
        kind=kind,
        contract_type=ContractType(info["ctType"]),
        contract_value=decimal(info["ctVal"], "ctVal"),
        settle_currency=info["settleCcy"],
        lot_size_contracts=decimal(info["lotSz"], "lotSz"),
        min_size_contracts=decimal(info["minSz"], "minSz"),
        expiry_ms=int(expiry) if kind is InstrumentKind.FUTURE and expiry else None,
        tick_size_usd=decimal(info["tickSz"], "tickSz"),
    )


def position(inst_id: str, row: Json | None, mark_price_usd: Decimal) -> VenuePosition:
    """`row` is None when OKX lists no position for the instrument: flat."""
    if row is None:
        return VenuePosition(inst_id, ZERO, None, mark_price_usd)
    return VenuePosition(
        instrument_id=inst_id,
        size_contracts=decimal(row.get("pos") or "0", "pos"),
        avg_price_usd=decimal_or_none(row.get("avgPx"), "avgPx"),
        mark_price_usd=mark_price_usd,
        liquidation_price_usd=decimal_or_none(row.get("liqPx"), "liqPx"),
        unrealised_pnl=decimal(row.get("upl") or "0", "upl"),
    )


def balances(currency: str, detail: Json | None, funding: Json | None) -> VenueBalances:
    return VenueBalances(
        currency=currency,
        trading_equity=decimal(detail.get("eq") or "0", "eq") if detail else ZERO,
        trading_available=decimal(detail.get("availEq") or "0", "availEq") if detail else ZERO,
        funding_balance=decimal(funding.get("bal") or "0", "bal") if funding else ZERO,
    )


def margin_in_use(detail: Json | None) -> bool:
    """Whether a currency's balance shows positions: initial margin or unrealised P&L."""
    if not detail:
        return False
    imr = decimal_or_none(detail.get("imr"), "imr") or ZERO
    upl = decimal_or_none(detail.get("upl"), "upl") or ZERO
    return imr > 0 or upl != 0


def fill(row: Json) -> Fill:
    return Fill(
        fill_id=str(row["tradeId"]),
        client_order_id=str(row.get("clOrdId", "")),
        size_contracts=decimal(row["fillSz"], "fillSz"),
        price_usd=decimal(row["fillPx"], "fillPx"),
        fee=-decimal(row.get("fee") or "0", "fee"),  # OKX: negative is charged
        fee_currency=str(row.get("feeCcy", "")),
        ts_ms=int(row.get("ts") or row.get("fillTime") or 0),
    )


def order(row: Json, fills: list[Fill]) -> OrderReport:
    state = ORDER_STATES.get(str(row.get("state")))
    if state is None:
        raise VenueUnavailable(f"OKX order state {row.get('state')!r} is not known")
    filled = decimal(row.get("accFillSz") or "0", "accFillSz")
    average = decimal_or_none(row.get("avgPx"), "avgPx") if filled > 0 else None
    return OrderReport(
        client_order_id=str(row.get("clOrdId", "")),
        venue_order_id=str(row.get("ordId", "")),
        state=state,
        filled_contracts=filled,
        avg_price_usd=average,
        fills=tuple(fills),
        message=str(row.get("cancelSourceReason") or ""),
    )


def account_config(row: Json) -> AccountConfig:
    return AccountConfig(
        position_mode=str(row.get("posMode", "")),
        account_level=int(row.get("acctLv") or 0),
        uid=str(row.get("uid", "")),
    )


def funding_rate(row: Json) -> FundingRate:
    """GET /public/funding-rate: `fundingRate` is charged at `fundingTime`; `nextFundingRate`
    is empty when OKX collects in the current period (method current_period)."""
    next_time = row.get("nextFundingTime")
    return FundingRate(
        instrument_id=str(row["instId"]),
        rate=decimal(row["fundingRate"], "fundingRate"),
        funding_time_ms=int(row["fundingTime"]),
        next_funding_time_ms=int(next_time) if next_time else None,
        next_rate=decimal_or_none(row.get("nextFundingRate"), "nextFundingRate"),
    )


def settled_funding_rate(row: Json) -> SettledFundingRate:
    """A row of GET /public/funding-rate-history: the rate actually charged is `realizedRate`
    (`fundingRate` is the one computed before the settlement)."""
    rate = decimal_or_none(row.get("realizedRate"), "realizedRate")
    if rate is None:
        rate = decimal(row["fundingRate"], "fundingRate")
    return SettledFundingRate(str(row["instId"]), rate, int(row["fundingTime"]))


def transfer_state(state: str) -> MovementState:
    """OKX's transfer state: success, failed, or pending (and anything else: not final)."""
    return TRANSFER_STATES.get(state, MovementState.PENDING)


def deposit_state(state: str) -> DepositState:
    return DepositState.CREDITED if state in DEPOSIT_CREDITED_STATES else DepositState.PENDING


def withdrawal_state(state: str) -> MovementState:
    """OKX's withdrawal state: 2 success; -1, -2 failed; the rest pending."""
    return WITHDRAWAL_STATES.get(state, MovementState.PENDING)


def transfer(row: Json, state: str = "success") -> TransferReport:
    """`state` stands in when the row has none (the answer to the transfer request itself)."""
    venue_state = str(row.get("state") or state)
    return TransferReport(
        client_id=str(row.get("clientId", "")),
        transfer_id=str(row.get("transId", "")),
        currency=str(row["ccy"]),
        amount=decimal(row["amt"], "amt"),
        from_account=ACCOUNTS.get(str(row.get("from")), str(row.get("from"))),
        to_account=ACCOUNTS.get(str(row.get("to")), str(row.get("to"))),
        state=transfer_state(venue_state),
        venue_state=venue_state,
    )


def funding_payment(row: Json) -> FundingPayment:
    """A bill of type 8: `balChg` is what the account received (negative: paid)."""
    return FundingPayment(
        bill_id=str(row["billId"]),
        instrument_id=str(row.get("instId", "")),
        currency=str(row["ccy"]),
        amount=decimal(row["balChg"], "balChg"),
        ts_ms=millis(row.get("ts")),
    )


def deposit(row: Json) -> DepositRecord:
    venue_state = str(row.get("state", ""))
    return DepositRecord(
        deposit_id=str(row.get("depId", "")),
        currency=str(row["ccy"]),
        chain=str(row.get("chain", "")),
        amount=decimal(row["amt"], "amt"),
        address=str(row.get("to", "")),
        tx_id=str(row.get("txId", "")),
        state=deposit_state(venue_state),
        venue_state=venue_state,
        ts_ms=int(row.get("ts") or 0),
    )


def withdrawal(row: Json) -> WithdrawalReport:
    venue_state = str(row.get("state", "0"))
    return WithdrawalReport(
        client_id=str(row.get("clientId", "")),
        withdrawal_id=str(row.get("wdId", "")),
        currency=str(row["ccy"]),
        chain=str(row.get("chain", "")),
        amount=decimal(row["amt"], "amt"),
        fee=decimal(row.get("fee") or "0", "fee"),
        to_address=str(row.get("to", "")),
        state=withdrawal_state(venue_state),
        venue_state=venue_state,
        tx_id=str(row.get("txId", "")),
        ts_ms=int(row.get("ts") or 0),
    )


def deposit_address(rows: list[Json], currency: str) -> str:
    """The address, among OKX's deposit addresses, on the currency's main chain that credits
    the funding account (`to` 6), the selected one first; NotFound naming what OKX gave."""
    chain, funding = DEPOSIT_CHAINS.get(currency, ""), ACCOUNT_IDS["funding"]
    fitting = [
        r
        for r in rows
        if r.get("ccy") == currency and r.get("chain") == chain and str(r.get("to")) == funding
    ]
    chosen = next((r for r in fitting if r.get("selected")), fitting[0] if fitting else None)
    if chosen is None or not chosen.get("addr"):
        given = ", ".join(f"chain {r.get('chain')!r} to {r.get('to')!r}" for r in rows) or "none"
        raise NotFound(
            f"OKX gave no {currency} deposit address on chain {chain or '?'} credited to the "
            f"funding account (to {funding}); it gave: {given}. Set the funding account as "
            "the deposit destination in OKX"
        )
    return str(chosen["addr"])

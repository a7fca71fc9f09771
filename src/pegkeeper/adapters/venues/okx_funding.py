"""OKX's funding calls through ccxt: transfers between the funding (6) and trading (18)
accounts, deposit address and history, onchain withdrawals, the funding rate and its history,
and the swap funding the trading account paid and received (its bills of type 8).

Transfers and withdrawals carry pegkeeper's client id; one that raises VenueUncertain may have
gone through and must be looked up by that id (`transfer_state`, `withdrawal`) before any new
request: it is never repeated blindly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from pegkeeper.adapters.venues import okx_parse as parse
from pegkeeper.domain.errors import NotFound, VenueUnavailable
from pegkeeper.domain.venue import (
    DepositRecord,
    FundingPayment,
    FundingRate,
    SettledFundingRate,
    TransferReport,
    WithdrawalReport,
)

Json = Mapping[str, Any]
BILLS_PAGE = 100  # OKX's largest page of /api/v5/account/bills
RATES_PAGE = 100  # rows asked per page of /api/v5/public/funding-rate-history
FUNDING_FEE_BILL = "8"
Call = Callable[[str, dict[str, str]], Awaitable[list[Json]]]


def one_row(rows: list[Json], what: str) -> Json:
    """The single row OKX answers with; anything else is an answer not to act on."""
    if len(rows) != 1:
        raise VenueUnavailable(f"OKX answered {len(rows)} rows for one {what}")
    return rows[0]


def text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


class OkxFunding:
    def __init__(self, read: Call, write: Call) -> None:
        self._read = read  # idempotent: retried
        self._write = write  # never retried

    async def transfer(
        self, client_id: str, currency: str, amount: Decimal, from_account: str, to_account: str
    ) -> TransferReport:
        """Between funding and trading. VenueUncertain: look `client_id` up before anything."""
        body = {
            "ccy": currency,
            "amt": text(amount),
            "from": parse.ACCOUNT_IDS[from_account],
            "to": parse.ACCOUNT_IDS[to_account],
            "type": "0",
            "clientId": client_id,
        }
        row = one_row(await self._write("private_post_asset_transfer", body), "transfer")
        try:
            return await self.transfer_state(client_id)
        except (VenueUnavailable, NotFound):
            return parse.transfer(row, state="pending")

    async def transfer_state(self, client_id: str) -> TransferReport:
        rows = await self._read("private_get_asset_transfer_state", {"clientId": client_id})
        row = one_row(rows, "transfer state")
        return parse.transfer(row)

    async def deposit_address(self, currency: str) -> str:
        """The address of an onchain deposit that OKX credits to the funding account; NotFound
        when OKX lists none on the currency's main chain with the funding account (6) as its
        destination: a deposit elsewhere would never be matched."""
        rows = await self._read("private_get_asset_deposit_address", {"ccy": currency})
        return parse.deposit_address(rows, currency)

    async def deposits(self, currency: str) -> list[DepositRecord]:
        rows = await self._read("private_get_asset_deposit_history", {"ccy": currency})
        return [parse.deposit(row) for row in rows]

    async def withdraw(
        self,
        client_id: str,
        currency: str,
        amount: Decimal,
        to_address: str,
        chain: str,
        fee: Decimal | None = None,
    ) -> WithdrawalReport:
        """Onchain (dest 4). VenueUncertain: look `client_id` up before anything else."""
        body = {
            "ccy": currency,
            "amt": text(amount),
            "dest": "4",
            "toAddr": to_address,
            "chain": chain,
            "clientId": client_id,
        }
        if fee is not None:
            body["fee"] = text(fee)
        await self._write("private_post_asset_withdrawal", body)
        return await self.withdrawal(client_id)

    async def withdrawal(self, client_id: str) -> WithdrawalReport:
        rows = await self._read("private_get_asset_withdrawal_history", {"clientId": client_id})
        found = [r for r in rows if r.get("clientId") == client_id]
        if not found:
            raise NotFound(f"OKX knows no withdrawal {client_id!r}", code="58129")
        return parse.withdrawal(found[0])

    async def withdrawal_fee(self, currency: str) -> tuple[str, Decimal]:
        """(chain, minimum fee) of an onchain withdrawal, from OKX's currency list; the main
        chain (BTC-Bitcoin) when OKX lists several."""
        rows = await self._read("private_get_asset_currencies", {"ccy": currency})
        chains = [r for r in rows if r.get("ccy") == currency and r.get("canWd", True)]
        if not chains:
            raise NotFound(f"OKX lists no withdrawable {currency}")
        main = next((r for r in chains if r.get("mainNet")), chains[0])
        return str(main["chain"]), parse.decimal(main.get("minFee") or "0", "minFee")

    async def funding_rate(self, instrument_id: str) -> FundingRate:
        rows = await self._read("public_get_public_funding_rate", {"instId": instrument_id})
        row = one_row(rows, "funding rate")
        return parse.funding_rate(row)

    async def funding_rate_history(
        self, instrument_id: str, since_ms: int
    ) -> list[SettledFundingRate]:
        """OKX's settled rates since `since_ms`: pages newest first, each `after` the oldest
        settlement of the one before, until a page reaches back past `since_ms` or ends."""
        params = {"instId": instrument_id, "limit": str(RATES_PAGE)}
        found: list[SettledFundingRate] = []
        while True:
            rows = await self._read("public_get_public_funding_rate_history", params)
            page = [parse.settled_funding_rate(r) for r in rows]
            found += page
            oldest_ms = min((r.funding_time_ms for r in page), default=since_ms)
            if len(rows) < RATES_PAGE or oldest_ms <= since_ms:
                break
            params = params | {"after": str(oldest_ms)}
        kept = {r.funding_time_ms: r for r in found if r.funding_time_ms >= since_ms}
        return [kept[t] for t in sorted(kept)]

    async def funding_payments(self, currency: str, since_ms: int) -> list[FundingPayment]:
        """OKX's funding-fee bills (type 8) since `since_ms`, page by page (newest first,
        `after` the last bill id of a full page); OKX keeps 7 days of bills here."""
        params = {"type": FUNDING_FEE_BILL, "ccy": currency, "begin": str(since_ms)}
        params["limit"] = str(BILLS_PAGE)
        found: list[FundingPayment] = []
        while True:
            rows = await self._read("private_get_account_bills", params)
            found += [parse.funding_payment(r) for r in rows if r.get("type") == FUNDING_FEE_BILL]
            if len(rows) < BILLS_PAGE:
                break
            params = params | {"after": str(rows[-1]["billId"])}
        return sorted(
            (f for f in found if f.ts_ms >= since_ms and f.currency == currency),
            key=lambda f: (f.ts_ms, f.bill_id.zfill(32)),  # bill ids are numbers
        )

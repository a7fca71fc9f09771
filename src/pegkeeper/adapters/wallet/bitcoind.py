"""The Wallet port over a Bitcoin Core node's wallet, through its JSON-RPC interface.

Calls go to `<url>/wallet/<wallet>` with HTTP basic auth and named parameters. Amounts travel
as decimal strings (bitcoind accepts them) and are read back with Decimal, never float. Every
send signals replace-by-fee and carries pegkeeper's operation id as its wallet comment (the
one per-transaction label Bitcoin Core keeps for a payment: address labels name the exchange's
deposit address, shared by every deposit), so a send whose answer was lost is found again with
`find_sent` instead of being repeated. `find_sent` pages back through the wallet's history
until it is older than the operation, however many payments came after it.

Errors: a JSON-RPC error that says the request was refused (insufficient funds, bad address,
fee too low) is OrderRejected; a node that is warming up, a missing wallet, a refused
connection or a rejected login is VenueUnavailable; a timeout or a server error without an
answer during a send or a fee bump is VenueUncertain.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

import httpx

from pegkeeper.domain.collateral import WalletTransaction
from pegkeeper.domain.errors import NotFound, OrderRejected, VenueUnavailable, VenueUncertain
from pegkeeper.domain.units import SATS_PER_BTC, sats_to_btc

# bitcoind's RPC error codes (src/rpc/protocol.h)
NOT_PROCESSED = {-28, -18, -13}  # warming up, wallet not loaded, wallet locked
INVALID_OR_NON_WALLET_TX = -5
CLOCK_MARGIN_MS = 3_600_000  # how far the node's clock may be behind pegkeeper's


@dataclass(frozen=True)
class BitcoindSettings:
    url: str  # http://host:port
    wallet: str = ""  # the wallet's name; empty: the node's default wallet
    user: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    timeout_seconds: float = 10.0
    list_page: int = 200  # transactions per `listtransactions` page searched by `find_sent`


class BitcoindWallet:
    name = "bitcoind"

    def __init__(self, settings: BitcoindSettings) -> None:
        self._settings = settings
        base = settings.url.rstrip("/")
        self._endpoint = f"{base}/wallet/{settings.wallet}" if settings.wallet else base
        auth = httpx.BasicAuth(settings.user, settings.password) if settings.user else None
        self._client = httpx.AsyncClient(auth=auth, timeout=settings.timeout_seconds)
        self._ids = itertools.count(1)

    async def close(self) -> None:
        await self._client.aclose()

    async def new_address(self) -> str:
        return str(await self._call("getnewaddress", {"address_type": "bech32"}))

    async def balance_sats(self) -> int:
        balances = await self._call("getbalances", {})
        mine = balances["mine"]
        return _sats(mine["trusted"]) + _sats(mine["untrusted_pending"])

    async def send(
        self, address: str, amount_sats: int, fee_rate_sat_vb: Decimal, comment: str
    ) -> str:
        params = {
            "address": address,
            "amount": _btc_text(amount_sats),
            "comment": comment,
            "subtractfeefromamount": False,
            "replaceable": True,
            "fee_rate": _rate_text(fee_rate_sat_vb),
        }
        return str(await self._call("sendtoaddress", params, write=True))

    async def transaction(self, tx_id: str) -> WalletTransaction:
        try:
            tx = await self._call("gettransaction", {"txid": tx_id, "verbose": True})
        except OrderRejected as error:
            if error.code == str(INVALID_OR_NON_WALLET_TX):
                raise NotFound(str(error), code=error.code) from None
            raise
        return _transaction(tx)

    async def find_sent(self, comment: str, since_ms: int) -> list[WalletTransaction]:
        """Every payment with `comment`, searched from the newest back to `since_ms` (less
        an hour for the node's clock), page by page."""
        oldest_s = (since_ms - CLOCK_MARGIN_MS) // 1000
        page, skip = self._settings.list_page, 0
        tx_ids: dict[str, None] = {}
        while True:
            params = {"label": "*", "count": page, "skip": skip, "include_watchonly": False}
            listed = await self._call("listtransactions", params)
            tx_ids |= dict.fromkeys(
                str(row["txid"])
                for row in listed
                if row.get("category") == "send" and row.get("comment") == comment
            )
            times = [int(row.get("time", 0)) for row in listed]
            if len(listed) < page or min(times) < oldest_s:
                break
            skip += page
        return [await self.transaction(tx_id) for tx_id in tx_ids]

    async def bump_fee(self, tx_id: str, fee_rate_sat_vb: Decimal) -> str:
        params = {"txid": tx_id, "options": {"fee_rate": _rate_text(fee_rate_sat_vb)}}
        result = await self._call("bumpfee", params, write=True)
        errors = result.get("errors") or []
        if errors:
            raise OrderRejected(f"bumpfee of {tx_id}: {'; '.join(map(str, errors))}")
        return str(result["txid"])

    async def _call(self, method: str, params: dict[str, Any], *, write: bool = False) -> Any:
        body = {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": params}
        uncertain = VenueUncertain if write else VenueUnavailable
        try:
            response = await self._client.post(self._endpoint, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise VenueUnavailable(f"bitcoind not reachable ({method}): {error!r}") from None
        except httpx.HTTPError as error:
            raise uncertain(f"bitcoind {method}: no answer ({error!r})") from None
        if response.status_code in (401, 403):
            raise VenueUnavailable(
                f"bitcoind refused the credentials (HTTP {response.status_code}): check "
                "PEGKEEPER_FUNDING__WALLET__BITCOIND_USER and __BITCOIND_PASSWORD"
            )
        try:
            answer = json.loads(response.text, parse_float=Decimal)
        except ValueError:
            raise uncertain(
                f"bitcoind {method}: HTTP {response.status_code} without a JSON-RPC answer"
            ) from None
        rpc_error = answer.get("error") if isinstance(answer, dict) else None
        if rpc_error:
            raise _rpc_error(method, rpc_error)
        if response.status_code >= 400 or not isinstance(answer, dict) or "result" not in answer:
            raise uncertain(f"bitcoind {method}: HTTP {response.status_code}, no result")
        return answer["result"]


def _rpc_error(method: str, error: dict[str, Any]) -> Exception:
    code = int(error.get("code", 0))
    message = f"bitcoind {method}: {error.get('message', '')} (code {code})"
    if code in NOT_PROCESSED:
        return VenueUnavailable(message, code=str(code))
    return OrderRejected(message, code=str(code))


def _transaction(tx: dict[str, Any]) -> WalletTransaction:
    sends = [d for d in tx.get("details", []) if d.get("category") == "send"]
    amount = abs(sum((Decimal(d["amount"]) for d in sends), Decimal(0)))
    fee_sats = _sats(abs(Decimal(tx.get("fee", 0))))
    decoded = tx.get("decoded") or {}
    vsize = int(decoded.get("vsize") or 0)
    rate = (Decimal(fee_sats) / vsize).quantize(Decimal("0.001")) if vsize else Decimal(0)
    return WalletTransaction(
        tx_id=str(tx["txid"]),
        amount_sats=_sats(amount),
        fee_sats=fee_sats,
        fee_rate_sat_vb=rate,
        confirmations=int(tx.get("confirmations", 0)),
        replaceable=tx.get("bip125-replaceable") == "yes",
        replaced_by_tx_id=str(tx.get("replaced_by_txid") or ""),
        comment=str(tx.get("comment") or ""),
    )


def _sats(amount_btc: object) -> int:
    if not isinstance(amount_btc, Decimal | int):
        raise VenueUnavailable(f"bitcoind sent {amount_btc!r} where an amount was expected")
    sats = Decimal(amount_btc) * SATS_PER_BTC
    if sats != sats.to_integral_value():
        raise VenueUnavailable(f"bitcoind sent {amount_btc} BTC, not a whole number of sats")
    return int(sats)


def _btc_text(amount_sats: int) -> str:
    return format(sats_to_btc(amount_sats).quantize(Decimal("0.00000001")), "f")


def _rate_text(fee_rate_sat_vb: Decimal) -> str:
    """sat/vB with bitcoind's 3 decimals, rounded up so the rate asked for is paid."""
    return format(fee_rate_sat_vb.quantize(Decimal("0.001"), rounding=ROUND_CEILING), "f")

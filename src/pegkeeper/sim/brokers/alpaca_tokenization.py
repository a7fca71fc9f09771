"""The Broker API's tokenization endpoints on the simulated Alpaca (specs/equities.md,
"Rebalancing"), attached to an `AlpacaSimServer` before it starts:

- POST /v1/accounts/{account_id}/tokenization/mint {underlying_symbol, qty, issuer, network,
  wallet_address, issuer_request_id}: the shares are checked (400 when the account holds too
  few) and journaled out of the account at once; the request is `pending`;
- GET .../tokenization/requests (?type=mint|redeem, status, underlying_symbol),
  .../requests/{tokenization_request_id}, .../requests:by_issuer_request_id and
  .../requests:by_client_request_id.

Requests move on when they are read, on the book's clock: at the first read at least
`delay_ms` after it was created (and never at the read that first shows it), a mint is
`completed` with the hash of the tokens minted onchain (`ChainEffects.mint_tokens`), or
`rejected` with its shares back when a test switched that on. A redeem appears when a stock
token arrives onchain in the redemption wallet (polled at each read): `pending`, then
`completed` with the shares credited, or `rejected`. An issuer_request_id seen before is
refused with 409 and creates nothing.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from pegkeeper.sim.brokers.alpaca_chain import ChainEffects, stock_qty_truncated
from pegkeeper.sim.brokers.alpaca_records import ZERO, Account, OrderRefused, Position
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from pegkeeper.sim.brokers.alpaca_shapes import number, stamp

BASE = "/v1/accounts/{account_id}/tokenization"
QTY_STEP = Decimal("0.000000001")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
INVALID = 42210000  # Alpaca's code for a request body it cannot take


@dataclass(slots=True)
class Tokenization:
    """One mint or redeem request as Alpaca keeps it."""

    id: str
    kind: str  # "mint" | "redeem"
    account_id: str
    symbol: str
    qty: Decimal
    issuer: str
    network: str
    wallet_address: str  # the mint's destination; the redeem's sender
    issuer_request_id: str
    client_request_id: str | None
    created_ms: int
    ready_ms: int
    born_at_read: int  # the settle count when it was made: it moves on at a later one
    reject: bool = False
    status: str = "pending"
    tx_hash: str | None = None
    fees: Decimal = ZERO
    updated_ms: int = 0


class AlpacaTokenization:
    def __init__(
        self,
        server: AlpacaSimServer,
        chain: ChainEffects,
        *,
        redemption_wallet: str,
        account_id: str | None = None,
        mint_delay_ms: int = 0,
        redeem_delay_ms: int = 0,
        fee_usd: Decimal = ZERO,
    ) -> None:
        self.server = server
        self.book = server.book
        self.chain = chain
        self.redemption_wallet = redemption_wallet.lower()
        self.account_id = account_id or server.book.trading_account_id  # redeems credit it
        self.mint_delay_ms = mint_delay_ms
        self.redeem_delay_ms = redeem_delay_ms
        self.fee_usd = fee_usd
        self.requests: dict[str, Tokenization] = {}
        self.mint_posts: Counter[str] = Counter()  # mint requests received per issuer id
        self._rejects = {"mint": 0, "redeem": 0}
        self._reads = 0
        self._next_block = 0
        self._seen_tx: set[str] = set()
        self._lock = asyncio.Lock()

    def reject_next_mint(self, count: int = 1) -> None:
        self._rejects["mint"] += count

    def reject_next_redeem(self, count: int = 1) -> None:
        self._rejects["redeem"] += count

    def of_issuer_id(self, issuer_request_id: str) -> list[Tokenization]:
        return [r for r in self.requests.values() if r.issuer_request_id == issuer_request_id]

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{BASE}/mint", self._mint),
            web.get(f"{BASE}/requests", self._list),
            web.get(f"{BASE}/requests:by_issuer_request_id", self._by("issuer_request_id")),
            web.get(f"{BASE}/requests:by_client_request_id", self._by("client_request_id")),
            web.get(BASE + "/requests/{request_id}", self._one),
        ]

    # -- handlers --------------------------------------------------------------------------------

    async def _mint(self, request: web.Request) -> web.StreamResponse:
        account = self.book.account(request.match_info["account_id"])
        body = await json_object(request)
        issuer_id = str(body.get("issuer_request_id") or "") or f"mint-{uuid.uuid4()}"
        self.mint_posts[issuer_id] += 1
        record = self._checked_mint(account, body, issuer_id)
        _journal(account, record.symbol, -record.qty)
        self.requests[record.id] = record
        failed = await self.server.after_accept()
        return failed or web.json_response(request_json(record))

    async def _list(self, request: web.Request) -> web.StreamResponse:
        account_id = self.book.account(request.match_info["account_id"]).id
        kind = request.query.get("type")
        if kind is not None and kind not in ("mint", "redeem"):
            raise OrderRefused(422, INVALID, f"invalid type {kind!r}: expected mint or redeem")
        await self.settle()
        status, symbol = request.query.get("status"), request.query.get("underlying_symbol")
        shown = [
            request_json(r)
            for r in self.requests.values()
            if r.account_id == account_id
            and (kind is None or r.kind == kind)
            and (status is None or r.status == status)
            and (symbol is None or r.symbol == symbol)
        ]
        return web.json_response(shown)

    async def _one(self, request: web.Request) -> web.StreamResponse:
        account_id = self.book.account(request.match_info["account_id"]).id
        await self.settle()
        record = self.requests.get(request.match_info["request_id"])
        if record is None or record.account_id != account_id:
            raise OrderRefused(404, 40410000, "tokenization request not found")
        return web.json_response(request_json(record))

    def _by(self, field: str) -> Any:
        async def read(request: web.Request) -> web.StreamResponse:
            account_id = self.book.account(request.match_info["account_id"]).id
            wanted = request.query.get(field)
            if not wanted:
                raise OrderRefused(422, INVALID, f"{field} is required")
            await self.settle()
            found = [
                r
                for r in self.requests.values()
                if r.account_id == account_id
                and (r.issuer_request_id if field == "issuer_request_id" else r.client_request_id)
                == wanted
            ]
            if not found:
                raise OrderRefused(404, 40410000, "tokenization request not found")
            return web.json_response(request_json(found[-1]))

        return read

    # -- moving requests on ----------------------------------------------------------------------

    async def settle(self) -> None:
        """Detects new redemption transfers, then moves on every request that is due."""
        async with self._lock:
            self._reads += 1
            await self._detect_redeems()
            now_ms = self.book.now_ms()
            for record in list(self.requests.values()):
                due = now_ms >= record.ready_ms and record.born_at_read < self._reads
                if record.status == "pending" and due:
                    await self._finish(record)

    async def _finish(self, record: Tokenization) -> None:
        account = self.book.account(record.account_id)
        if record.reject:
            if record.kind == "mint":
                _journal(account, record.symbol, record.qty)
            self._end(record, "rejected")
            return
        if record.kind == "mint":
            try:
                minted = await self.chain.mint_tokens(
                    record.symbol, record.wallet_address, record.qty
                )
            except Exception:  # the node did not take it: still pending, tried at the next read
                return
            record.tx_hash = minted.lower()
            record.fees = self.fee_usd
        else:
            _journal(account, record.symbol, record.qty)
        self._end(record, "completed")

    def _end(self, record: Tokenization, status: str) -> None:
        record.status = status
        record.updated_ms = self.book.now_ms()

    async def _detect_redeems(self) -> None:
        arrived = await self.chain.transfers_to(self.redemption_wallet, self._next_block)
        for transfer in arrived:
            self._next_block = max(self._next_block, transfer.block)
            symbol = self.chain.symbol_of(transfer.token)
            if symbol is None or transfer.tx_hash in self._seen_tx:
                continue
            self._seen_tx.add(transfer.tx_hash)
            record = self._new(
                "redeem",
                self.account_id,
                symbol,
                stock_qty_truncated(transfer.amount_units),
                wallet_address=transfer.sender,
                issuer_request_id=f"redeem-{uuid.uuid4()}",
                delay_ms=self.redeem_delay_ms,
            )
            record.tx_hash = transfer.tx_hash.lower()
            record.born_at_read = self._reads
            self.requests[record.id] = record

    # -- inside ----------------------------------------------------------------------------------

    def _checked_mint(self, account: Account, body: dict[str, Any], issuer_id: str) -> Tokenization:
        symbol = _text(body, "underlying_symbol", "a stock symbol such as AAPL")
        qty = _qty(body.get("qty"))
        issuer = _text(body, "issuer", "the token issuer, e.g. st0x")
        network = _text(body, "network", "the token's network, e.g. base")
        wallet = str(body.get("wallet_address") or "")
        if not ADDRESS.match(wallet):
            raise OrderRefused(
                422, INVALID, f"invalid wallet_address {wallet!r}: expected 0x and 40 hex digits"
            )
        if self.of_issuer_id(issuer_id):
            raise OrderRefused(409, 40910000, f"issuer_request_id {issuer_id} already exists")
        held = account.positions.get(symbol, Position()).qty
        if qty > held:
            raise OrderRefused(
                400,
                40010000,
                f"insufficient position for {symbol} (requested: {number(qty)}, "
                f"available: {number(held)})",
            )
        client_id = body.get("client_request_id")
        return self._new(
            "mint",
            account.id,
            symbol,
            qty,
            issuer=issuer,
            network=network,
            wallet_address=wallet.lower(),
            issuer_request_id=issuer_id,
            client_request_id=str(client_id) if client_id else None,
            delay_ms=self.mint_delay_ms,
        )

    def _new(
        self,
        kind: str,
        account_id: str,
        symbol: str,
        qty: Decimal,
        *,
        wallet_address: str,
        issuer_request_id: str,
        delay_ms: int,
        issuer: str = "st0x",
        network: str = "base",
        client_request_id: str | None = None,
    ) -> Tokenization:
        now_ms = self.book.now_ms()
        reject = self._rejects[kind] > 0
        if reject:
            self._rejects[kind] -= 1
        return Tokenization(
            id=str(uuid.uuid4()),
            kind=kind,
            account_id=account_id,
            symbol=symbol,
            qty=qty,
            issuer=issuer,
            network=network,
            wallet_address=wallet_address,
            issuer_request_id=issuer_request_id,
            client_request_id=client_request_id,
            created_ms=now_ms,
            ready_ms=now_ms + delay_ms,
            born_at_read=self._reads,
            reject=reject,
            updated_ms=now_ms,
        )


def request_json(record: Tokenization) -> dict[str, Any]:
    return {
        "tokenization_request_id": record.id,
        "issuer_request_id": record.issuer_request_id,
        "client_request_id": record.client_request_id,
        "type": record.kind,
        "status": record.status,
        "underlying_symbol": record.symbol,
        "token_symbol": f"t{record.symbol}",
        "qty": number(record.qty),
        "issuer": record.issuer,
        "network": record.network,
        "wallet_address": record.wallet_address,
        "tx_hash": record.tx_hash,
        "fees": number(record.fees),
        "created_at": stamp(record.created_ms),
        "updated_at": stamp(record.updated_ms),
    }


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise OrderRefused(400, 40010000, "request body must be JSON") from None
    if not isinstance(body, dict):
        raise OrderRefused(400, 40010000, "request body must be a JSON object")
    return body


def positive_decimal(raw: object, field: str, places: int, expected: str) -> Decimal:
    """A positive number with at most `places` decimals, or a 422 naming the field."""
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        value = Decimal("NaN")
    if isinstance(raw, bool) or raw is None or not value.is_finite() or value <= 0:
        raise OrderRefused(422, INVALID, f"invalid {field} {raw!r}: expected {expected}")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise OrderRefused(
            422, INVALID, f"invalid {field} {raw!r}: at most {places} decimal places"
        )
    return value


def _qty(raw: object) -> Decimal:
    return positive_decimal(raw, "qty", 9, "a positive number of shares")


def _text(body: dict[str, Any], field: str, expected: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise OrderRefused(422, INVALID, f"invalid {field} {value!r}: expected {expected}")
    return value.strip()


def _journal(account: Account, symbol: str, qty: Decimal) -> None:
    """Shares into (qty > 0) or out of the account, the cost basis kept per share."""
    position = account.positions.setdefault(symbol, Position())
    if qty < 0 and position.qty > 0:
        position.cost_usd -= position.cost_usd * min(-qty / position.qty, Decimal(1))
    elif qty > 0 and position.qty > 0:
        position.cost_usd += position.cost_usd / position.qty * qty
    position.qty += qty

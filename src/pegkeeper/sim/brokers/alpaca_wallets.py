"""The Broker API's crypto wallet endpoints on the simulated Alpaca, for USDC, attached to an
`AlpacaSimServer` before it starts:

- GET /v1/accounts/{account_id}/wallets?asset=USDC&network=ethereum: the deposit address
  {asset_id, address, created_at};
- POST .../wallets/transfers {amount, asset, address}: a withdrawal to a whitelisted
  address, at least `min_withdrawal_usd` (422 below it), the USDC taken from the account at
  once; GET .../wallets/transfers lists withdrawals and deposits;
- GET and POST .../wallets/whitelists: addresses a withdrawal may go to (a new one is
  PENDING until a test approves it, as Alpaca approves within 24 hours).

The account's USDC is its `USDCUSD` position, as Alpaca shows it. Transfers move on when they
are read, one state per read on the book's clock: a withdrawal goes PENDING -> PROCESSING
(the USDC sent onchain by `ChainEffects.send_usdc`, its hash stated) -> COMPLETE, or
PENDING -> FAILED with the USDC returned when a test switched that on. A deposit is a USDC
transfer onchain into the deposit address, found at a read: PROCESSING, then COMPLETE with the
USDC credited.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from pegkeeper.sim.brokers.alpaca_chain import ChainEffects, usdc_amount
from pegkeeper.sim.brokers.alpaca_records import ZERO, Account, OrderRefused, Position
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from pegkeeper.sim.brokers.alpaca_shapes import asset_id, number, stamp
from pegkeeper.sim.brokers.alpaca_tokenization import (
    ADDRESS,
    INVALID,
    json_object,
    positive_decimal,
)

BASE = "/v1/accounts/{account_id}/wallets"
USDC_POSITION = "USDCUSD"  # the account's USDC, as its positions show it
USDC_DECIMALS = 6
ASSETS = frozenset({"USDC"})


@dataclass(slots=True)
class Transfer:
    id: str
    account_id: str
    direction: str  # "OUTGOING" | "INCOMING"
    amount: Decimal
    from_address: str
    to_address: str
    created_ms: int
    ready_ms: int
    born_at_read: int
    status: str
    fail: bool = False
    tx_hash: str | None = None
    updated_ms: int = 0


@dataclass(slots=True)
class Whitelisted:
    id: str
    address: str
    asset: str
    created_ms: int
    status: str  # "PENDING" | "APPROVED"


class AlpacaWallets:
    def __init__(
        self,
        server: AlpacaSimServer,
        chain: ChainEffects,
        *,
        deposit_address: str,
        hot_wallet: str = "0x" + "a1" * 20,
        account_id: str | None = None,
        whitelisted: tuple[str, ...] = (),
        min_withdrawal_usd: Decimal = Decimal(51),
        step_delay_ms: int = 0,
    ) -> None:
        self.server = server
        self.book = server.book
        self.chain = chain
        self.deposit_address = deposit_address.lower()
        self.hot_wallet = hot_wallet.lower()  # where withdrawals are sent from
        self.account_id = account_id or server.book.trading_account_id  # deposits credit it
        self.min_withdrawal_usd = min_withdrawal_usd
        self.step_delay_ms = step_delay_ms
        self.transfers: dict[str, Transfer] = {}
        self.whitelist: dict[str, Whitelisted] = {}
        self.withdrawal_posts = 0
        self._fails = 0
        self._reads = 0
        self._next_block = 0
        self._seen_tx: set[str] = set()
        self._lock = asyncio.Lock()
        for address in whitelisted:
            self.approve(address)

    def approve(self, address: str) -> None:
        """The address may receive withdrawals from now on."""
        entry = self.whitelist.get(address.lower())
        if entry is None:
            entry = self._whitelisted(address, "USDC")
        entry.status = "APPROVED"

    def fail_next_withdrawal(self, count: int = 1) -> None:
        self._fails += count

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(BASE, self._wallets),
            web.get(f"{BASE}/transfers", self._list),
            web.post(f"{BASE}/transfers", self._withdraw),
            web.get(f"{BASE}/whitelists", self._whitelists),
            web.post(f"{BASE}/whitelists", self._add_whitelisted),
        ]

    # -- handlers --------------------------------------------------------------------------------

    async def _wallets(self, request: web.Request) -> web.StreamResponse:
        self.book.account(request.match_info["account_id"])
        asset = request.query.get("asset")
        if asset is not None and asset not in ASSETS:
            raise OrderRefused(422, INVALID, f"asset {asset!r} is not supported: expected USDC")
        wallet = {
            "asset_id": asset_id("USDC"),
            "address": self.deposit_address,
            "created_at": stamp(0),
        }
        return web.json_response(wallet if asset else [wallet])

    async def _list(self, request: web.Request) -> web.StreamResponse:
        account_id = self.book.account(request.match_info["account_id"]).id
        await self.settle()
        shown = [transfer_json(t) for t in self.transfers.values() if t.account_id == account_id]
        return web.json_response(shown)

    async def _withdraw(self, request: web.Request) -> web.StreamResponse:
        account = self.book.account(request.match_info["account_id"])
        body = await json_object(request)
        self.withdrawal_posts += 1
        amount, address = self._checked(account, body)
        add_usdc(account, -amount)
        now_ms = self.book.now_ms()
        transfer = Transfer(
            id=str(uuid.uuid4()),
            account_id=account.id,
            direction="OUTGOING",
            amount=amount,
            from_address=self.hot_wallet,
            to_address=address,
            created_ms=now_ms,
            ready_ms=now_ms + self.step_delay_ms,
            born_at_read=self._reads,
            status="PENDING",
            fail=self._take_fail(),
            updated_ms=now_ms,
        )
        self.transfers[transfer.id] = transfer
        failed = await self.server.after_accept()
        return failed or web.json_response(transfer_json(transfer))

    async def _whitelists(self, request: web.Request) -> web.StreamResponse:
        self.book.account(request.match_info["account_id"])
        return web.json_response([whitelisted_json(w) for w in self.whitelist.values()])

    async def _add_whitelisted(self, request: web.Request) -> web.StreamResponse:
        self.book.account(request.match_info["account_id"])
        body = await json_object(request)
        address, asset = str(body.get("address") or ""), str(body.get("asset") or "")
        if not ADDRESS.match(address):
            raise OrderRefused(
                422, INVALID, f"invalid address {address!r}: expected 0x and 40 hex digits"
            )
        if asset not in ASSETS:
            raise OrderRefused(422, INVALID, f"invalid asset {asset!r}: expected USDC")
        if address.lower() in self.whitelist:
            raise OrderRefused(409, 40910000, f"address {address} is already whitelisted")
        return web.json_response([whitelisted_json(self._whitelisted(address, asset))])

    # -- moving transfers on ---------------------------------------------------------------------

    async def settle(self) -> None:
        async with self._lock:
            self._reads += 1
            await self._detect_deposits()
            now_ms = self.book.now_ms()
            for transfer in list(self.transfers.values()):
                due = now_ms >= transfer.ready_ms and transfer.born_at_read < self._reads
                if transfer.status in ("PENDING", "PROCESSING") and due:
                    await self._step(transfer)

    async def _step(self, transfer: Transfer) -> None:
        account = self.book.account(transfer.account_id)
        if transfer.status == "PROCESSING":
            if transfer.direction == "INCOMING":
                add_usdc(account, transfer.amount)
            self._move(transfer, "COMPLETE")
            return
        if transfer.fail:
            add_usdc(account, transfer.amount)
            self._move(transfer, "FAILED")
            return
        try:
            sent = await self.chain.send_usdc(transfer.to_address, transfer.amount)
        except Exception:  # the node did not take it: still PENDING, tried at the next read
            return
        transfer.tx_hash = sent.lower()
        self._move(transfer, "PROCESSING")

    def _move(self, transfer: Transfer, status: str) -> None:
        transfer.status = status
        transfer.updated_ms = self.book.now_ms()
        transfer.ready_ms = transfer.updated_ms + self.step_delay_ms
        transfer.born_at_read = self._reads

    async def _detect_deposits(self) -> None:
        arrived = await self.chain.transfers_to(self.deposit_address, self._next_block)
        for seen in arrived:
            self._next_block = max(self._next_block, seen.block)
            if seen.token != self.chain.usdc_token or seen.tx_hash in self._seen_tx:
                continue
            self._seen_tx.add(seen.tx_hash)
            now_ms = self.book.now_ms()
            transfer = Transfer(
                id=str(uuid.uuid4()),
                account_id=self.account_id,
                direction="INCOMING",
                amount=usdc_amount(seen.amount_units),
                from_address=seen.sender,
                to_address=self.deposit_address,
                created_ms=now_ms,
                ready_ms=now_ms + self.step_delay_ms,
                born_at_read=self._reads,
                status="PROCESSING",
                tx_hash=seen.tx_hash.lower(),
                updated_ms=now_ms,
            )
            self.transfers[transfer.id] = transfer

    # -- inside ----------------------------------------------------------------------------------

    def _checked(self, account: Account, body: dict[str, Any]) -> tuple[Decimal, str]:
        asset = body.get("asset")
        if asset not in ASSETS:
            raise OrderRefused(422, INVALID, f"invalid asset {asset!r}: expected USDC")
        amount = positive_decimal(
            body.get("amount"), "amount", USDC_DECIMALS, "a positive amount of USDC"
        )
        address = str(body.get("address") or "")
        if not ADDRESS.match(address):
            raise OrderRefused(
                422, INVALID, f"invalid address {address!r}: expected 0x and 40 hex digits"
            )
        if amount < self.min_withdrawal_usd:
            raise OrderRefused(
                422,
                INVALID,
                f"withdrawal amount {number(amount)} is below the minimum of "
                f"{number(self.min_withdrawal_usd)} USD",
            )
        entry = self.whitelist.get(address.lower())
        if entry is None or entry.status != "APPROVED":
            raise OrderRefused(
                422, INVALID, f"address {address} is not an approved whitelisted address"
            )
        available = usdc_of(account)
        if amount > available:
            raise OrderRefused(
                403,
                40310000,
                f"insufficient balance for USDC (requested: {number(amount)}, "
                f"available: {number(available)})",
            )
        return amount, address.lower()

    def _take_fail(self) -> bool:
        if self._fails > 0:
            self._fails -= 1
            return True
        return False

    def _whitelisted(self, address: str, asset: str) -> Whitelisted:
        entry = Whitelisted(
            str(uuid.uuid4()), address.lower(), asset, self.book.now_ms(), "PENDING"
        )
        self.whitelist[entry.address] = entry
        return entry


def usdc_of(account: Account) -> Decimal:
    return account.positions.get(USDC_POSITION, Position()).qty


def add_usdc(account: Account, amount: Decimal) -> None:
    """USDC into (amount > 0) or out of the account, its cost at 1 USD."""
    position = account.positions.setdefault(USDC_POSITION, Position())
    position.qty += amount
    position.cost_usd = max(position.cost_usd + amount, ZERO)


def transfer_json(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id,
        "tx_hash": transfer.tx_hash,
        "direction": transfer.direction,
        "amount": number(transfer.amount),
        "usd_value": number(transfer.amount),
        "chain": "ETH",
        "asset": "USDC",
        "from_address": transfer.from_address,
        "to_address": transfer.to_address,
        "status": transfer.status,
        "created_at": stamp(transfer.created_ms),
        "network_fee": "0",
        "fees": "0",
    }


def whitelisted_json(entry: Whitelisted) -> dict[str, Any]:
    return {
        "id": entry.id,
        "chain": "ETH",
        "asset": entry.asset,
        "address": entry.address,
        "created_at": stamp(entry.created_ms),
        "status": entry.status,
    }

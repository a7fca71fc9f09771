"""A local Galoy (Blink) GraphQL server for tests: the part of Galoy's schema that pegkeeper's
login and transactions query use, with Galoy's names, served by uvicorn on a free port.

The dealer account's transactions are listed newest first, with Relay paging as Galoy does:
`transactions(last: N, before: C)` gives the N transactions just newer than cursor C (without C:
the N oldest), newest first, and `pageInfo.hasPreviousPage` says newer ones remain.

Two deliberate departures from Galoy's schema, so that tests can send what a broken or newer
server might: `settlementAmount` is nullable, and `WalletCurrency` has a third value, USDT.
Switches: `expire_tokens()`, `reject_expired_with_401`, `fail_next_requests`, `overlap_pages`;
`api_keys` are taken as Blink takes them, in an `X-API-KEY` header instead of a login.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from ariadne import (
    InterfaceType,
    MutationType,
    ObjectType,
    QueryType,
    UnionType,
    make_executable_schema,
)
from ariadne.asgi import GraphQL
from graphql import GraphQLError

PHONE = "+15550100001"
CODE = "314159"

SCHEMA = """
scalar AuthToken
scalar Memo
scalar OneTimeAuthCode
scalar Phone
scalar SafeInt
scalar SignedAmount
scalar Timestamp
scalar WalletId

type Query { me: User }
type Mutation { userLogin(input: UserLoginInput!): AuthTokenPayload! }

input UserLoginInput { code: OneTimeAuthCode! phone: Phone! }

interface Error { message: String! path: [String] }
type GraphQLApplicationError implements Error { code: String message: String! path: [String] }
type AuthTokenPayload { authToken: AuthToken errors: [Error!]! }

type User { id: ID! defaultAccount: Account! }
interface Account {
  id: ID!
  transactions(after: String, before: String, first: Int, last: Int, walletIds: [WalletId]):
    TransactionConnection
}
type ConsumerAccount implements Account {
  id: ID!
  transactions(after: String, before: String, first: Int, last: Int, walletIds: [WalletId]):
    TransactionConnection
}

type TransactionConnection { edges: [TransactionEdge!] pageInfo: PageInfo! }
type TransactionEdge { cursor: String! node: Transaction! }
type PageInfo {
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
}

type Transaction {
  createdAt: Timestamp!
  direction: TxDirection!
  id: ID!
  initiationVia: InitiationVia!
  memo: Memo
  settlementAmount: SignedAmount
  settlementCurrency: WalletCurrency!
  settlementFee: SignedAmount!
  settlementPrice: PriceOfOneSettlementMinorUnitInDisplayMinorUnit!
  settlementVia: SettlementVia!
  status: TxStatus!
}
type PriceOfOneSettlementMinorUnitInDisplayMinorUnit {
  base: SafeInt!
  currencyUnit: String!
  formattedAmount: String!
  offset: Int!
}

union InitiationVia = InitiationViaIntraLedger | InitiationViaLn | InitiationViaOnChain
type InitiationViaIntraLedger { counterPartyUsername: String counterPartyWalletId: WalletId }
type InitiationViaLn { paymentHash: String! }
type InitiationViaOnChain { address: String! }

union SettlementVia = SettlementViaIntraLedger | SettlementViaLn | SettlementViaOnChain
type SettlementViaIntraLedger { counterPartyUsername: String counterPartyWalletId: WalletId }
type SettlementViaLn { preImage: String }
type SettlementViaOnChain { transactionHash: String! }

enum TxDirection { RECEIVE SEND }
enum TxStatus { FAILURE PENDING SUCCESS }
enum WalletCurrency { BTC USD USDT }
"""

PRICE_OFFSET = 12
_ids = itertools.count(0x65F0A1B2C3D4E5F6A7B80000)


def next_tx_id() -> str:
    """24 hex digits, like Galoy's ledger ids."""
    return f"{next(_ids):024x}"


def cursor_of(tx_id: str) -> str:
    return base64.b64encode(f"TransactionCursor:{tx_id}".encode()).decode()


def node(
    currency: str,
    amount: int | None,
    created_at_s: int,
    *,
    cents_per_unit_e12: int,
    memo: str | None = None,
    via: str = "SettlementViaIntraLedger",
    tx_id: str | None = None,
) -> dict[str, Any]:
    """One dealer-account transaction as Galoy lists it. The price is cents per sat (or per
    cent) times 10^12: base = cents_per_unit_e12, offset = 12."""
    direction = "SEND" if amount is not None and amount < 0 else "RECEIVE"
    return {
        "id": tx_id or next_tx_id(),
        "createdAt": created_at_s,
        "direction": direction,
        "memo": memo,
        "status": "SUCCESS",
        "settlementAmount": amount,
        "settlementCurrency": currency,
        "settlementFee": 0,
        "settlementPrice": {
            "base": cents_per_unit_e12,
            "offset": PRICE_OFFSET,
            "currencyUnit": "MINOR",
            "formattedAmount": str(cents_per_unit_e12 / 10**PRICE_OFFSET),
        },
        "settlementVia": {"__typename": via},
        "initiationVia": {"__typename": via.replace("Settlement", "Initiation")},
    }


def trade(
    usd_cents: int, sats: int, created_at_s: int, *, memo: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dealer's two legs of one user trade: (BTC leg, USD leg). `usd_cents` is the dealer's
    USD leg: negative when the user bought USD (the dealer paid cents and received sats)."""
    sats_signed = sats if usd_cents < 0 else -sats
    cents_per_sat_e12 = round(abs(usd_cents) * 10**PRICE_OFFSET / sats)
    btc = node("BTC", sats_signed, created_at_s, cents_per_unit_e12=cents_per_sat_e12, memo=memo)
    usd = node("USD", usd_cents, created_at_s, cents_per_unit_e12=10**PRICE_OFFSET, memo=memo)
    return btc, usd


@dataclass
class GaloyLedger:
    """The server's state: the dealer account's transactions, oldest first, and its tokens."""

    phone: str = PHONE
    code: str = CODE
    transactions: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, bool] = field(default_factory=dict)  # token -> still valid
    api_keys: set[str] = field(default_factory=set)  # sent as X-API-KEY, as Blink takes them
    logins: int = 0
    failed_logins: int = 0
    queries: list[tuple[int | None, str | None]] = field(default_factory=list)  # (last, before)
    reject_expired_with_401: bool = False  # as a gateway in front of Galoy does
    fail_next_requests: int = 0  # answered HTTP 500
    overlap_pages: bool = False  # each page repeats the transaction at its cursor

    def add(self, *nodes: dict[str, Any]) -> None:
        """Newest last: each added transaction is newer than those before it."""
        self.transactions.extend(nodes)

    def expire_tokens(self) -> None:
        self.tokens = dict.fromkeys(self.tokens, False)

    def page(self, last: int | None, before: str | None) -> dict[str, Any]:
        newest_first = list(reversed(self.transactions))
        cursors = [cursor_of(n["id"]) for n in newest_first]
        if before is None:
            end = len(newest_first)
        elif before in cursors:
            end = cursors.index(before)
        else:
            raise GraphQLError("invalid cursor", extensions={"code": "INVALID_INPUT"})
        start = max(0, end - (last if last is not None else end))
        chosen = list(range(start, end))
        if self.overlap_pages and before is not None:
            chosen.append(end)
        edges = [{"cursor": cursors[i], "node": newest_first[i]} for i in chosen]
        return {
            "edges": edges,
            "pageInfo": {
                "hasPreviousPage": start > 0,
                "hasNextPage": end < len(newest_first),
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }

    def login(self, phone: str, code: str) -> dict[str, Any]:
        if (phone, code) != (self.phone, self.code):
            self.failed_logins += 1
            message = "Invalid or incorrect phone code entered."
            return {"authToken": None, "errors": [{"message": message, "path": ["code"]}]}
        self.logins += 1
        token = secrets.token_urlsafe(24)
        self.tokens[token] = True
        return {"authToken": token, "errors": []}

    def valid(self, token: str) -> bool:
        return self.tokens.get(token, False)


def make_app(ledger: GaloyLedger) -> Any:
    query, mutation = QueryType(), MutationType()
    error_type, account_type = InterfaceType("Error"), InterfaceType("Account")
    user, account = ObjectType("User"), ObjectType("ConsumerAccount")
    settlement, initiation = UnionType("SettlementVia"), UnionType("InitiationVia")

    @mutation.field("userLogin")
    def resolve_login(_: Any, __: Any, input: dict[str, str]) -> dict[str, Any]:
        return ledger.login(input["phone"], input["code"])

    @query.field("me")
    def resolve_me(_: Any, info: Any) -> dict[str, Any]:
        keyed = info.context["api_key"] in ledger.api_keys
        if not (keyed or ledger.valid(info.context["token"])):
            raise GraphQLError("Not authorized", extensions={"code": "NOT_AUTHORIZED"})
        return {"id": "dealer"}

    user.set_field("defaultAccount", lambda *_: {"id": "dealer-account"})

    @account.field("transactions")
    def resolve_transactions(
        _: Any, __: Any, last: int | None = None, before: str | None = None, **___: Any
    ) -> dict[str, Any]:
        ledger.queries.append((last, before))
        return ledger.page(last, before)

    error_type.set_type_resolver(lambda *_: "GraphQLApplicationError")
    account_type.set_type_resolver(lambda *_: "ConsumerAccount")
    for union in (settlement, initiation):
        union.set_type_resolver(lambda obj, *_: obj["__typename"])
    schema = make_executable_schema(
        SCHEMA, query, mutation, error_type, account_type, user, account, settlement, initiation
    )

    def context(request: Any, _: Any) -> dict[str, str]:
        return {
            "token": request.headers.get("authorization", "").removeprefix("Bearer "),
            "api_key": request.headers.get("x-api-key", ""),
        }

    quiet = logging.getLogger("tests.galoy_server")
    quiet.disabled = True  # the errors a test provokes are answers, not failures of the server
    graphql = GraphQL(schema, context_value=context, logger=quiet)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            token = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
            if ledger.fail_next_requests > 0:
                ledger.fail_next_requests -= 1
                await _answer(send, 500, {"errors": [{"message": "internal error"}]})
                return
            if ledger.reject_expired_with_401 and token and not ledger.valid(token):
                await _answer(send, 401, {"error": "Access credentials are invalid"})
                return
        await graphql(scope, receive, send)

    return app


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    payload = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@dataclass
class RunningGaloy:
    ledger: GaloyLedger
    url: str


def _server(ledger: GaloyLedger) -> tuple[uvicorn.Server, socket.socket, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/graphql"
    config = uvicorn.Config(make_app(ledger), log_level="warning", lifespan="off")
    return uvicorn.Server(config), sock, url


@contextlib.asynccontextmanager
async def running_galoy(ledger: GaloyLedger | None = None) -> AsyncIterator[RunningGaloy]:
    """The server in this event loop (tests change its state between the client's calls)."""
    ledger = ledger or GaloyLedger()
    server, sock, url = _server(ledger)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield RunningGaloy(ledger, url)
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.contextmanager
def galoy_in_thread(ledger: GaloyLedger | None = None) -> Iterator[RunningGaloy]:
    """The server on its own thread, for tests that drive `pegkeeper run` as a subprocess."""
    ledger = ledger or GaloyLedger()
    server, sock, url = _server(ledger)
    thread = threading.Thread(target=lambda: server.run(sockets=[sock]), daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    try:
        yield RunningGaloy(ledger, url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

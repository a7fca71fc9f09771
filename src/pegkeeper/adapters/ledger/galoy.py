"""The dealer account of a Galoy (Blink) wallet backend, over its public GraphQL API.

With an API key (Blink's recommended way for a program) every request carries it as
`X-API-KEY` and nothing else is needed; a key refused stops the source (LedgerAuthError).
Without one it logs in with the account's phone and code (`userLogin`: test accounts, whose
codes can be used again; a real account's code is single-use, so a re-login after the session
expires fails there), keeps the token in memory only and sends it as `Authorization: Bearer`. A
token refused later (expired) is replaced by one new login and the request is sent once more;
credentials refused at login stop the source, never a loop of logins. The key, the code and the
token appear in no log and no error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from pegkeeper.adapters.tracing import trace_event_hooks
from pegkeeper.domain.galoy import GaloyPage, MalformedResponse, parse_edge
from pegkeeper.domain.ledger_sync import LedgerAuthError, LedgerUnavailable

LOGIN = """
mutation PegkeeperUserLogin($input: UserLoginInput!) {
  userLogin(input: $input) {
    authToken
    errors { message }
  }
}
"""

# The query of specs/galoy.md (stablesats' transactions list).
TRANSACTIONS = """
query PegkeeperTransactionsList($last: Int, $before: String) {
  me {
    defaultAccount {
      transactions(last: $last, before: $before) {
        edges {
          cursor
          node {
            id
            createdAt
            direction
            memo
            status
            settlementAmount
            settlementCurrency
            settlementFee
            settlementPrice { base offset currencyUnit }
            settlementVia { __typename }
            initiationVia { __typename }
          }
        }
        pageInfo { hasPreviousPage }
      }
    }
  }
}
"""

# What Galoy (and the gateway in front of it) answers for a missing, expired or invalid token.
REFUSED_CODES = frozenset(
    {"UNAUTHENTICATED", "NOT_AUTHENTICATED", "NOT_AUTHORIZED", "INVALID_AUTHORIZATION"}
)
REFUSED_MESSAGES = ("not authorized", "not authenticated", "unauthorized")


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: Mapping[str, Any]


class GaloyClient:
    def __init__(
        self,
        api_url: str,
        phone: str,
        code: str,
        *,
        api_key: str = "",
        timeout_seconds: float = 10.0,
    ) -> None:
        self._url = api_url
        self._phone = phone
        self._code = code
        self._api_key = api_key
        self._timeout_seconds = timeout_seconds
        self._http = httpx.AsyncClient(timeout=timeout_seconds, event_hooks=trace_event_hooks())
        self._token: str | None = None
        self.logins = 0

    async def transactions(self, before: str | None, last: int) -> GaloyPage:
        data = await self._authenticated(TRANSACTIONS, {"last": last, "before": before})
        try:
            return _page(data)
        except (MalformedResponse, KeyError, TypeError) as error:
            raise LedgerUnavailable(
                f"Galoy's transactions answer cannot be read: {self._scrub(str(error))}"
            ) from None

    async def close(self) -> None:
        await self._http.aclose()

    async def _authenticated(self, query: str, variables: dict[str, Any]) -> Mapping[str, Any]:
        if self._api_key:
            return await self._with_api_key(query, variables)
        fresh_login = self._token is None
        if self._token is None:
            self._token = await self._login()
        answer = await self._post(query, variables, self._token)
        if _refused(answer) and not fresh_login:
            self._token = await self._login()  # the token expired: one new login, one retry
            answer = await self._post(query, variables, self._token)
        if _refused(answer):
            self._token = None
            raise LedgerAuthError(
                f"Galoy at {self._url} refused the token it had just issued "
                f"({self._errors(answer) or f'HTTP {answer.status}'}); the account may be "
                "locked or not allowed to read its transactions"
            )
        return self._data(answer)

    async def _with_api_key(self, query: str, variables: dict[str, Any]) -> Mapping[str, Any]:
        answer = await self._post(query, variables, None)
        if answer.status == 403 or _refused(answer):
            raise LedgerAuthError(
                f"Galoy at {self._url} refused the API key "
                f"({self._errors(answer) or f'HTTP {answer.status}'}); check "
                "PEGKEEPER_LEDGER__GALOY__API_KEY (a key with read scope), then restart"
            )
        return self._data(answer)

    async def _login(self) -> str:
        variables = {"input": {"phone": self._phone, "code": self._code}}
        answer = await self._post(LOGIN, variables, None)
        if answer.status in (401, 403) or _refused(answer):
            raise self._login_refused(self._errors(answer) or f"HTTP {answer.status}")
        payload = self._data(answer).get("userLogin")
        if not isinstance(payload, Mapping):
            raise LedgerUnavailable(f"Galoy's login answer has no userLogin: {answer.body!r:.200}")
        token = payload.get("authToken")
        errors = payload.get("errors") or []
        if errors or not isinstance(token, str) or not token:
            messages = "; ".join(_message(e) for e in errors) or "no token in the answer"
            raise self._login_refused(messages)
        self.logins += 1
        return token

    def _login_refused(self, why: str) -> LedgerAuthError:
        return LedgerAuthError(
            f"Galoy at {self._url} refused the login of phone {_masked(self._phone)} "
            f"({self._scrub(why).rstrip('.')}); check [ledger.galoy] phone and the login code "
            "in PEGKEEPER_LEDGER__GALOY__CODE, then restart"
        )

    async def _post(self, query: str, variables: dict[str, Any], token: str | None) -> _Answer:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["X-API-KEY"] = self._api_key
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = orjson.dumps({"query": query, "variables": variables})
        try:
            response = await self._http.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise LedgerUnavailable(
                f"Galoy at {self._url} did not answer within {self._timeout_seconds} s"
            ) from None
        except httpx.HTTPError as error:
            reason = f"{type(error).__name__}: {self._scrub(str(error))}"
            raise LedgerUnavailable(f"cannot reach Galoy at {self._url}: {reason}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise LedgerUnavailable(
                f"Galoy at {self._url} answered HTTP {response.status_code}; reading again later"
            )
        try:
            parsed = orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            parsed = {}
        if not isinstance(parsed, Mapping):
            parsed = {}
        if not parsed and response.status_code not in (401, 403):
            raise LedgerUnavailable(
                f"Galoy at {self._url} answered HTTP {response.status_code} without a JSON object"
            )
        return _Answer(response.status_code, parsed)

    def _data(self, answer: _Answer) -> Mapping[str, Any]:
        errors = self._errors(answer)
        data = answer.body.get("data")
        if errors or not isinstance(data, Mapping):
            raise LedgerUnavailable(
                f"Galoy at {self._url} answered HTTP {answer.status} with errors: "
                f"{errors or 'no data'}"
            )
        return data

    def _errors(self, answer: _Answer) -> str:
        errors = answer.body.get("errors")
        if not isinstance(errors, list):
            return ""
        return self._scrub("; ".join(_message(e) for e in errors))

    def _scrub(self, text: str) -> str:
        for secret in (self._api_key, self._code, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text


def _refused(answer: _Answer) -> bool:
    if answer.status == 401:
        return True
    errors = answer.body.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, Mapping):
            continue
        extensions = error.get("extensions")
        code = extensions.get("code") if isinstance(extensions, Mapping) else None
        message = str(error.get("message", "")).lower()
        if code in REFUSED_CODES or message.startswith(REFUSED_MESSAGES):
            return True
    data = answer.body.get("data")
    # `me` is null for a request without a valid token
    return isinstance(data, Mapping) and "me" in data and data["me"] is None


def _message(error: object) -> str:
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return str(error["message"])
    return repr(error)[:200]


def _masked(phone: str) -> str:
    return f"{phone[:3]}***{phone[-2:]}" if len(phone) > 6 else "***"


def _page(data: Mapping[str, Any]) -> GaloyPage:
    connection = data["me"]["defaultAccount"]["transactions"]
    if connection is None:
        raise MalformedResponse("transactions is null")
    edges = connection.get("edges") or []
    has_previous = connection["pageInfo"]["hasPreviousPage"]
    if not isinstance(edges, list) or not isinstance(has_previous, bool):
        raise MalformedResponse(
            f"expected a list of edges and a boolean hasPreviousPage, got {connection!r:.200}"
        )
    return GaloyPage([parse_edge(edge) for edge in edges], has_previous)

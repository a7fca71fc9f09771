"""Schwab's OAuth login (specs/equities.md, "Schwab OAuth"): the authorize URL the user opens,
the code read from the redirect URL they paste back, the code exchanged for tokens, and the
access token refreshed before it expires, every new pair stored encrypted (the TokenStore).

Written on httpx alone. schwab-py is not used: its clients are built around a token file and
its own authlib session, and cannot be pointed at a local test server through a supported
setting. authlib is not used either: the flow is two form posts with HTTP Basic, and its httpx
client refreshes inside whichever request finds the token old, an order's POST included, where
a refresh failure must instead be known before the order is sent; it also warns that its httpx
integration is deprecated each time it is imported.

Access tokens live 30 minutes and are refreshed 60 s ahead; the refresh token lives 7 days from
the login and a refresh does not extend it. A day before it expires a warning is logged once
(`refresh_expires_at_ms` lets the caller alert); once it has expired, or Schwab refuses it,
every call raises CredentialsRejected telling the operator to run `pegkeeper auth schwab` again,
and the refused token is not offered to Schwab again until a new login is stored.
No token, app key or secret is ever logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import structlog

from pegkeeper.adapters.brokers.schwab_orders import BROKER, MalformedAnswer, read_json
from pegkeeper.domain.credentials import OAuthTokens
from pegkeeper.domain.errors import CredentialsRejected, InvalidInput, RateLimited, VenueUnavailable
from pegkeeper.ports import Clock, TokenStore

log = structlog.get_logger("pegkeeper.brokers.schwab")

DEFAULT_BASE_URL = "https://api.schwabapi.com"
REFRESH_TOKEN_LIFETIME_MS = 7 * 86_400_000
ACCESS_TOKEN_LIFETIME_S = 1_800  # when the answer names none
REFRESH_AHEAD_MS = 60_000
WARN_AHEAD_MS = 86_400_000
LOGIN_AGAIN = "run `pegkeeper auth schwab` again"


@dataclass(frozen=True, slots=True)
class SchwabApp:
    """The app registered at developer.schwab.com: its key and secret (from the environment)
    and its callback URL."""

    app_key: str = field(repr=False)
    app_secret: str = field(repr=False)
    redirect_uri: str
    base_url: str = DEFAULT_BASE_URL

    def __post_init__(self) -> None:
        if not self.app_key or not self.app_secret:
            raise CredentialsRejected(
                f"{BROKER}: the app key and secret are not set: put them in "
                "PEGKEEPER_EQUITIES__SCHWAB__APP_KEY and PEGKEEPER_EQUITIES__SCHWAB__APP_SECRET"
            )

    def authorize_url(self) -> str:
        """The page the user opens to log in. It carries the app key as `client_id`, as Schwab
        requires: the one place the key is shown, to the operator running the login."""
        query = urlencode({"client_id": self.app_key, "redirect_uri": self.redirect_uri})
        return f"{self.base_url}/v1/oauth/authorize?{query}"


def code_from_redirect(pasted: str, redirect_uri: str) -> str:
    """The authorization code in the URL the browser was sent to after the login (decoded:
    Schwab's codes end in "@", sent as %40). InvalidInput says what is wrong otherwise."""
    text = pasted.strip()
    expected = urlsplit(redirect_uri)
    found = urlsplit(text)
    if (found.scheme, found.netloc) != (expected.scheme, expected.netloc):
        raise InvalidInput(
            f"the pasted text is not the address Schwab sent the browser to: expected a URL "
            f"starting with {expected.scheme}://{expected.netloc} (the app's callback URL)"
        )
    params = parse_qs(found.query)
    if "error" in params:
        raise InvalidInput(f"the login was not completed: Schwab answered {params['error'][0]!r}")
    codes = params.get("code", [])
    if len(codes) != 1 or not codes[0]:
        raise InvalidInput(
            "the pasted URL has no code=... parameter: paste the whole address from the "
            "browser's address bar after logging in and allowing access"
        )
    return codes[0]


class SchwabOAuth:
    """The token endpoint: a login's code exchanged, a refresh token used."""

    def __init__(self, app: SchwabApp, http: httpx.AsyncClient, clock: Clock) -> None:
        self.app = app
        self._http = http
        self._clock = clock

    async def exchange_code(self, code: str) -> OAuthTokens:
        answer = await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.app.redirect_uri,
            },
            refused=f"the login's code was refused (a code works once, for about 30 s); "
            f"{LOGIN_AGAIN} and paste the URL at once",
        )
        now_ms = self._clock.now_ms()
        return _tokens(answer, now_ms, refresh_expires_at_ms=now_ms + REFRESH_TOKEN_LIFETIME_MS)

    async def refresh(self, tokens: OAuthTokens) -> OAuthTokens:
        answer = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
            refused=f"the login expired or was refused; {LOGIN_AGAIN}",
        )
        answer.setdefault("refresh_token", tokens.refresh_token)
        return _tokens(answer, self._clock.now_ms(), tokens.refresh_expires_at_ms)

    async def _token_request(self, form: dict[str, str], *, refused: str) -> dict[str, Any]:
        basic = base64.b64encode(f"{self.app.app_key}:{self.app.app_secret}".encode()).decode()
        try:
            response = await self._http.post(
                f"{self.app.base_url}/v1/oauth/token",
                data=form,
                headers={"Authorization": f"Basic {basic}"},
            )
        except httpx.HTTPError as error:
            raise VenueUnavailable(
                f"{BROKER}: the token endpoint did not answer ({type(error).__name__})"
            ) from None
        status = response.status_code
        if status == 429:
            raise RateLimited(f"{BROKER}: the token endpoint is rate limited")
        if status in (400, 401, 403):
            reason = _error_code(response)
            if reason == "invalid_client":
                refused = "the app key or secret was refused: check PEGKEEPER_EQUITIES__SCHWAB__*"
            raise CredentialsRejected(f"{BROKER}: {refused} ({status} {reason})")
        if status != 200:
            raise VenueUnavailable(
                f"{BROKER}: the token endpoint answered {status}", code=str(status)
            )
        answer = read_json(response.content)
        if not isinstance(answer, dict):
            raise MalformedAnswer(f"{BROKER}: the token endpoint answered no object")
        return answer


def _tokens(answer: dict[str, Any], now_ms: int, refresh_expires_at_ms: int) -> OAuthTokens:
    access, refresh = answer.get("access_token"), answer.get("refresh_token")
    if not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh:
        raise MalformedAnswer(f"{BROKER}: the token endpoint's answer has no tokens")
    lifetime_s = answer.get("expires_in", ACCESS_TOKEN_LIFETIME_S)
    if not isinstance(lifetime_s, int) or lifetime_s <= 0:
        raise MalformedAnswer(f"{BROKER}: expires_in is not a positive integer")
    return OAuthTokens(
        access_token=access,
        refresh_token=refresh,
        access_expires_at_ms=now_ms + lifetime_s * 1000,
        refresh_expires_at_ms=refresh_expires_at_ms,
    )


def _error_code(response: httpx.Response) -> str:
    """Only the OAuth `error` word (its description may quote a token's digest)."""
    try:
        body = read_json(response.content)
    except MalformedAnswer:
        return "no error code"
    code = body.get("error") if isinstance(body, dict) else None
    return str(code)[:80] if code else "no error code"


class SchwabLogin:
    """The login in use: loaded from the store, its access token refreshed ahead of expiry and
    every new pair stored before it is used. One refresh at a time."""

    def __init__(
        self,
        oauth: SchwabOAuth,
        store: TokenStore,
        clock: Clock,
        *,
        refresh_ahead_ms: int = REFRESH_AHEAD_MS,
    ) -> None:
        self._oauth = oauth
        self._store = store
        self._clock = clock
        self._refresh_ahead_ms = refresh_ahead_ms
        self._tokens: OAuthTokens | None = None
        self._refused: OAuthTokens | None = None  # not offered to Schwab again
        self._stale = False  # the access token was refused (401): refresh before any use
        self._warned_for_ms: int | None = None
        self._lock = asyncio.Lock()

    async def access_token(self) -> str:
        async with self._lock:
            tokens = self._tokens
            now_ms = self._clock.now_ms()
            if (
                tokens is None
                or self._stale
                or not tokens.access_valid(now_ms, self._refresh_ahead_ms)
            ):
                tokens = await self._renewed(now_ms)
            self._warn_if_expiring(tokens, now_ms)
            return tokens.access_token

    def access_refused(self) -> None:
        """The API answered 401 to the current access token: it is refreshed before next use."""
        self._stale = True

    async def refresh_expires_at_ms(self) -> int | None:
        """When the login ends (unix ms), None when none is stored: `pegkeeper auth schwab`
        must run again before then."""
        async with self._lock:
            if self._tokens is None:
                self._tokens = await self._store.load(BROKER)
            return None if self._tokens is None else self._tokens.refresh_expires_at_ms

    async def _renewed(self, now_ms: int) -> OAuthTokens:
        stored = await self._store.load(BROKER)  # another process may have logged in or refreshed
        if stored is None:
            raise CredentialsRejected(f"{BROKER}: no login is stored; run `pegkeeper auth schwab`")
        fresh = stored != self._tokens and stored.access_valid(now_ms, self._refresh_ahead_ms)
        if fresh:
            self._tokens, self._stale = stored, False
            return stored
        if stored == self._refused or not stored.refresh_valid(now_ms):
            raise CredentialsRejected(self._expired_message(stored))
        try:
            renewed = await self._oauth.refresh(stored)
        except CredentialsRejected:
            self._refused = stored
            raise
        await self._store.save(BROKER, renewed)
        self._tokens, self._stale = renewed, False
        log.info(
            "schwab access token refreshed", access_expires_at=_iso(renewed.access_expires_at_ms)
        )
        return renewed

    def _expired_message(self, tokens: OAuthTokens) -> str:
        when = _iso(tokens.refresh_expires_at_ms)
        if tokens == self._refused:
            return f"{BROKER}: the login was refused by Schwab (it expires {when}); {LOGIN_AGAIN}"
        return f"{BROKER}: the login expired at {when}; {LOGIN_AGAIN}"

    def _warn_if_expiring(self, tokens: OAuthTokens, now_ms: int) -> None:
        left_ms = tokens.refresh_expires_at_ms - now_ms
        if left_ms >= WARN_AHEAD_MS or self._warned_for_ms == tokens.refresh_expires_at_ms:
            return
        self._warned_for_ms = tokens.refresh_expires_at_ms
        log.warning(
            f"the schwab login expires within a day; {LOGIN_AGAIN} before then",
            expires_at=_iso(tokens.refresh_expires_at_ms),
            hours_left=round(left_ms / 3_600_000, 1),
        )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")

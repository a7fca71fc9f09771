"""What every writing endpoint checks before it reads a body: the request comes from this
site, carries a valid bearer token where one is needed, and is JSON.

Safe against cross-site request forgery by construction: a token travels in a header that
only a program or the page's own script sets (never a cookie the browser would add by itself),
a body must be `application/json` (which no cross-site form can send without a preflight this
server never grants), and a request whose Origin or Sec-Fetch-Site says it comes from another
site is refused before the token is even looked at.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import Request

LOCAL_HOSTS = frozenset({"localhost", "ip6-localhost"})


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BearerAuth:
    """Name -> token, kept as digests and compared in constant time. `role` names the kind
    of token in answers ("operator"), `doing` what needs it ("operator actions"), `variable`
    where the tokens are configured."""

    def __init__(self, tokens: dict[str, str], role: str, doing: str, variable: str) -> None:
        self._digests = {name: _digest(token) for name, token in tokens.items()}
        self._role, self._doing, self._variable = role, doing, variable

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def name(self, request: Request) -> str:
        """Whose token the request carries; raises Refused (403 cross-site, 401, 403)."""
        same_site(request)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise Refused(401, f"{self._doing} need Authorization: Bearer <{self._role} token>")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(401, f"the Authorization header must be: Bearer <{self._role} token>")
        if not self._digests:
            raise Refused(
                403,
                f"{self._doing} are disabled: no {self._role} tokens are configured "
                f"({self._variable})",
            )
        presented = _digest(token.strip())
        name = None
        for candidate, digest in self._digests.items():  # no early exit: constant time
            if hmac.compare_digest(presented, digest):
                name = candidate
        if name is None:
            raise Refused(403, f"the {self._role} token is not valid")
        return name


def same_site(request: Request) -> None:
    """Raises Refused (403) for a request a browser says comes from another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise Refused(403, f"cross-site request refused (Sec-Fetch-Site: {fetch_site})")
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if urlsplit(origin).netloc != host:
        raise Refused(403, f"cross-site request refused (Origin {origin} is not {host})")


def require_json(request: Request) -> None:
    """Raises Refused (415) unless the body is declared `application/json`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise Refused(415, f"the body must be application/json, got {content_type or 'none'}")


def json_object(raw: bytes, example: str) -> dict[str, Any]:
    """The body as a JSON object; ValueError naming what is wrong and what is expected."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise ValueError(f"request body must be a JSON object like {example}")
    return body


def is_loopback(host: str) -> bool:
    """Whether a listening address reaches this machine only."""
    if host.lower() in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()

"""OKX's request signatures: REST headers and the WebSocket login, checked exactly as OKX does.

sign = Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body)), where requestPath
carries the query string as sent and the body is empty for GET. A request whose timestamp is
more than 30 s from the server's clock is refused (50102); a bad signature gets 50113.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pegkeeper.sim.okx_server.envelope import OkxError

MAX_SKEW_SECONDS = 30.0
WS_VERIFY_PATH = "/users/self/verify"


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str
    secret_key: str = field(repr=False)
    passphrase: str = field(repr=False)


def sign(secret_key: str, prehash: str) -> str:
    digest = hmac.new(secret_key.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_rest(
    credentials: Credentials,
    headers: Mapping[str, str],
    method: str,
    request_path: str,
    body: str,
    now_s: float | None = None,
) -> None:
    """Raises OkxError (HTTP 401) naming what is wrong, as OKX does."""
    key = _header(headers, "OK-ACCESS-KEY", "50103")
    signature = _header(headers, "OK-ACCESS-SIGN", "50106")
    timestamp = _header(headers, "OK-ACCESS-TIMESTAMP", "50107")
    passphrase = _header(headers, "OK-ACCESS-PASSPHRASE", "50104")
    _check_timestamp(_parse_iso(timestamp), now_s)
    if not hmac.compare_digest(key, credentials.api_key):
        raise OkxError("50111", "Invalid OK-ACCESS-KEY", http_status=401)
    if not hmac.compare_digest(passphrase, credentials.passphrase):
        raise OkxError("50105", "OK-ACCESS-PASSPHRASE incorrect", http_status=401)
    body_part = "" if method.upper() == "GET" else body
    expected = sign(credentials.secret_key, timestamp + method.upper() + request_path + body_part)
    if not hmac.compare_digest(signature, expected):
        raise OkxError("50113", "Invalid Sign", http_status=401)


def verify_ws_login(
    credentials: Credentials, args: Mapping[str, object], now_s: float | None = None
) -> None:
    """The login op of the private WebSocket; raises OkxError with OKX's 600xx codes."""
    key, passphrase = str(args.get("apiKey", "")), str(args.get("passphrase", ""))
    timestamp, signature = str(args.get("timestamp", "")), str(args.get("sign", ""))
    try:
        sent_s = float(timestamp)
    except ValueError:
        raise OkxError("60004", "Invalid timestamp") from None
    if abs((time.time() if now_s is None else now_s) - sent_s) > MAX_SKEW_SECONDS:
        raise OkxError("60006", "Timestamp request expired")
    if not hmac.compare_digest(key, credentials.api_key):
        raise OkxError("60005", "Invalid OK-ACCESS-KEY")
    if not hmac.compare_digest(passphrase, credentials.passphrase):
        raise OkxError("60024", "Wrong passphrase")
    expected = sign(credentials.secret_key, timestamp + "GET" + WS_VERIFY_PATH)
    if not hmac.compare_digest(signature, expected):
        raise OkxError("60007", "Invalid sign")


def _header(headers: Mapping[str, str], name: str, code: str) -> str:
    value = headers.get(name, "")
    if not value:
        raise OkxError(code, f"Request header {name} can not be empty", http_status=401)
    return value


def _parse_iso(timestamp: str) -> float:
    try:
        parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP", http_status=401)
    return parsed.timestamp()


def _check_timestamp(sent_s: float, now_s: float | None) -> None:
    now = time.time() if now_s is None else now_s
    if abs(now - sent_s) > MAX_SKEW_SECONDS:
        raise OkxError("50102", "Timestamp request expired", http_status=401)

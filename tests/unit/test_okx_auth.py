"""OKX's request signature: the known vector, and the simulator's checks, code by code."""

from __future__ import annotations

import hashlib
from datetime import datetime

import ccxt
import pytest

from pegkeeper.sim.okx_server.auth import Credentials, sign, verify_rest, verify_ws_login
from pegkeeper.sim.okx_server.envelope import OkxError

# specs/okx.md: the vector from OKX's own SDK tests
SECRET = "E65791902180E9EF4510DB6A77F6EBAE"
TIMESTAMP = "2018-03-08T10:59:25.789Z"
PATH = "/orders?before=2&limit=30"
BODY = '{"product_id":"BTC-USD-0309","order_id":"377454671037440"}'
EXPECTED = "TO6uwdqz+31SIPkd4I+9NiZGmVH74dXi+Fd5X0EzzSQ="
CREDS = Credentials("key-1", SECRET, "phrase-1")
NOW_S = datetime.fromisoformat(TIMESTAMP.replace("Z", "+00:00")).timestamp()


def test_the_known_vector_signs_to_the_known_signature() -> None:
    assert sign(SECRET, TIMESTAMP + "POST" + PATH + BODY) == EXPECTED


def test_ccxt_signs_the_vector_the_same_way() -> None:
    exchange = ccxt.okx()
    prehash = TIMESTAMP + "POST" + PATH + BODY
    signature = exchange.hmac(
        exchange.encode(prehash), exchange.encode(SECRET), hashlib.sha256, "base64"
    )
    assert signature == EXPECTED


def headers(**overrides: str) -> dict[str, str]:
    base = {
        "OK-ACCESS-KEY": "key-1",
        "OK-ACCESS-SIGN": EXPECTED,
        "OK-ACCESS-TIMESTAMP": TIMESTAMP,
        "OK-ACCESS-PASSPHRASE": "phrase-1",
    }
    return base | overrides


def test_a_request_signed_with_the_vector_passes() -> None:
    verify_rest(CREDS, headers(), "POST", PATH, BODY, now_s=NOW_S + 1)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"body": BODY.replace("0309", "0310")}, "50113"),
        ({"path": "/orders?before=2&limit=31"}, "50113"),
        ({"method": "PUT"}, "50113"),
        ({"OK-ACCESS-SIGN": EXPECTED.replace("T", "t", 1)}, "50113"),
        ({"OK-ACCESS-KEY": "key-2"}, "50111"),
        ({"OK-ACCESS-PASSPHRASE": "phrase-2"}, "50105"),
        ({"OK-ACCESS-SIGN": ""}, "50106"),
        ({"OK-ACCESS-KEY": ""}, "50103"),
        ({"OK-ACCESS-TIMESTAMP": "yesterday"}, "50112"),
        ({"OK-ACCESS-TIMESTAMP": "2018-03-08T10:59:25.789"}, "50112"),  # no zone
        ({"now_s": str(NOW_S + 31)}, "50102"),
    ],
)
def test_each_fault_in_a_request_gets_okx_code(change: dict[str, str], code: str) -> None:
    method = change.pop("method", "POST")
    path = change.pop("path", PATH)
    body = change.pop("body", BODY)
    now_s = float(change.pop("now_s", NOW_S))
    with pytest.raises(OkxError) as refused:
        verify_rest(CREDS, headers(**change), method, path, body, now_s=now_s)
    assert (refused.value.code, refused.value.http_status) == (code, 401)


def test_a_get_signs_no_body() -> None:
    path = "/api/v5/account/positions?instId=BTC-USD-SWAP"
    signature = sign(SECRET, TIMESTAMP + "GET" + path)
    verify_rest(CREDS, headers(**{"OK-ACCESS-SIGN": signature}), "GET", path, "", now_s=NOW_S)


def test_the_websocket_login() -> None:
    now_s = 1_700_000_000.0
    args = {
        "apiKey": "key-1",
        "passphrase": "phrase-1",
        "timestamp": "1700000000",
        "sign": sign(SECRET, "1700000000GET/users/self/verify"),
    }
    verify_ws_login(CREDS, args, now_s=now_s)
    for change, code in [
        ({"sign": EXPECTED}, "60007"),
        ({"apiKey": "x"}, "60005"),
        ({"passphrase": "x"}, "60024"),
        ({"timestamp": "1699999000"}, "60006"),
        ({"timestamp": "soon"}, "60004"),
    ]:
        with pytest.raises(OkxError) as refused:
            verify_ws_login(CREDS, args | change, now_s=now_s)
        assert refused.value.code == code


def test_credentials_do_not_show_their_secrets() -> None:
    assert SECRET not in repr(CREDS) and "phrase-1" not in repr(CREDS)

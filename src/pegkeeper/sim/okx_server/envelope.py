"""OKX's response envelope, its errors, and the reading of request parameters.

Every answer is `{"code": "0", "msg": "", "data": [...]}`; a business error keeps HTTP 200
and puts OKX's code in `code` (and, for order calls, in each `data[i].sCode`); an
authentication error answers HTTP 401.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from aiohttp import web

Json = dict[str, Any]


class OkxError(Exception):
    def __init__(self, code: str, msg: str, *, http_status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


def respond(
    data: list[Json], *, code: str = "0", msg: str = "", http_status: int = 200
) -> web.Response:
    body = {"code": code, "msg": msg, "data": data}
    return web.Response(
        body=orjson.dumps(body), status=http_status, content_type="application/json"
    )


def error_response(error: OkxError) -> web.Response:
    return respond([], code=error.code, msg=error.msg, http_status=error.http_status)


def text(value: Decimal | int | None) -> str:
    """OKX's numbers are strings; an absent number is the empty string."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return format(value.normalize(), "f") if value != 0 else "0"


def required(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise OkxError("50014", f"Parameter {name} can not be empty")
    return str(value)


def decimal_param(
    params: Mapping[str, Any], name: str, *, optional: bool = False
) -> Decimal | None:
    value = params.get(name)
    if value is None or value == "":
        if optional:
            return None
        raise OkxError("50014", f"Parameter {name} can not be empty")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise OkxError("51000", f"Parameter {name} error") from None
    if not number.is_finite():
        raise OkxError("51000", f"Parameter {name} error")
    return number


def whole_param(params: Mapping[str, Any], name: str, default: int) -> int:
    """A whole number parameter (an id, a time, a limit); `default` when absent."""
    number = decimal_param(params, name, optional=True)
    if number is None:
        return default
    if number != number.to_integral_value():
        raise OkxError("51000", f"Parameter {name} error")
    return int(number)


def positive_decimal(params: Mapping[str, Any], name: str) -> Decimal:
    number = decimal_param(params, name)
    assert number is not None
    if number <= 0:
        raise OkxError("51000", f"Parameter {name} error")
    return number


def json_body(raw: str) -> Any:
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise OkxError("50002", "Invalid JSON body") from None

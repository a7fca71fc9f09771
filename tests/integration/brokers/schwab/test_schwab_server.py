"""The local Schwab server speaks Schwab's wire format: read with a bare HTTP client, not the
broker, so that the broker's tests stand on what Schwab would answer."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.sim.brokers.schwab_server import SchwabServer

ORDER: dict[str, Any] = {
    "orderType": "MARKET",
    "session": "NORMAL",
    "duration": "DAY",
    "orderStrategyType": "SINGLE",
    "orderLegCollection": [
        {
            "instruction": "BUY",
            "quantity": 3,
            "instrument": {"symbol": "AAPL", "assetType": "EQUITY"},
        }
    ],
}


@pytest.fixture
async def client(server: SchwabServer) -> AsyncIterator[httpx.AsyncClient]:
    token = server.grant()["access_token"]
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        yield http


async def _hash(client: httpx.AsyncClient) -> str:
    answer = (await client.get("/trader/v1/accounts/accountNumbers")).json()
    assert answer == [{"accountNumber": "12345678", "hashValue": answer[0]["hashValue"]}]
    return str(answer[0]["hashValue"])


async def test_an_order_is_answered_201_with_its_id_in_location_and_no_body(
    server: SchwabServer, client: httpx.AsyncClient
) -> None:
    account_hash = await _hash(client)

    response = await client.post(f"/trader/v1/accounts/{account_hash}/orders", json=ORDER)

    assert response.status_code == 201
    assert response.content == b""
    (order_id,) = server.book.orders
    assert response.headers["Location"] == (
        f"{server.base_url}/trader/v1/accounts/{account_hash}/orders/{order_id}"
    )
    order = (await client.get(f"/trader/v1/accounts/{account_hash}/orders/{order_id}")).json()
    assert order["status"] == "FILLED"
    assert order["filledQuantity"] == 3 and order["remainingQuantity"] == 0
    assert order["enteredTime"] == "2026-01-05T15:00:00+0000"
    (activity,) = order["orderActivityCollection"]
    assert activity["executionLegs"][0]["price"] == 187.12


async def test_a_fractional_quantity_is_answered_400(client: httpx.AsyncClient) -> None:
    body = {**ORDER, "orderLegCollection": [{**ORDER["orderLegCollection"][0], "quantity": 1.5}]}

    response = await client.post(f"/trader/v1/accounts/{await _hash(client)}/orders", json=body)

    assert response.status_code == 400
    assert "whole number of shares" in response.json()["message"]


async def test_the_recent_orders_need_both_entered_times(client: httpx.AsyncClient) -> None:
    path = f"/trader/v1/accounts/{await _hash(client)}/orders"

    missing = await client.get(path, params={"fromEnteredTime": "2026-01-05T00:00:00.000Z"})
    listed = await client.get(
        path,
        params={
            "fromEnteredTime": "2026-01-05T00:00:00.000Z",
            "toEnteredTime": "2026-01-06T00:00:00.000Z",
        },
    )

    assert missing.status_code == 400 and "toEnteredTime" in missing.json()["message"]
    assert listed.status_code == 200 and listed.json() == []


async def test_requests_without_a_valid_token_are_answered_401(
    server: SchwabServer, clock: ManualClock
) -> None:
    token = server.grant()["access_token"]
    clock.advance(30 * 60)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        expired = await http.get(
            "/trader/v1/accounts/accountNumbers", headers={"Authorization": f"Bearer {token}"}
        )
        anonymous = await http.get("/trader/v1/accounts/accountNumbers")

    assert expired.status_code == 401 and anonymous.status_code == 401


async def test_the_token_endpoint_wants_the_apps_key_and_secret(server: SchwabServer) -> None:
    refresh = server.grant()["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    wrong = base64.b64encode(f"{server.app_key}:wrong".encode()).decode()
    right = base64.b64encode(f"{server.app_key}:{server.app_secret}".encode()).decode()
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        refused = await http.post(
            "/v1/oauth/token", data=form, headers={"Authorization": f"Basic {wrong}"}
        )
        taken = await http.post(
            "/v1/oauth/token", data=form, headers={"Authorization": f"Basic {right}"}
        )

    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert taken.status_code == 200
    assert taken.json()["refresh_token"] == refresh
    assert taken.json()["expires_in"] == 1800


async def test_the_market_hours_of_a_closed_day_say_so(client: httpx.AsyncClient) -> None:
    answer = (
        await client.get(
            "/marketdata/v1/markets", params={"markets": "equity", "date": "2026-01-10"}
        )
    ).json()

    assert answer == {
        "equity": {
            "equity": {
                "date": "2026-01-10",
                "marketType": "EQUITY",
                "product": "equity",
                "isOpen": False,
            }
        }
    }

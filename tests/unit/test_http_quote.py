"""The HTTP mirror of the price service: values, validation (422), no book (503)."""

from __future__ import annotations

import httpx
import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.api.http.app import ApiContext, create_app
from pegkeeper.api.http.quote import quote_router
from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.market.pricer import Pricer, PricerSettings
from pegkeeper.services.views.dealer import DealerView
from tests.fakes import FakeStore

URL = "/api/v1/quote"


class Books:
    def __init__(self) -> None:
        self.snapshot: BookSnapshot | None = BookSnapshot.from_levels(
            "file", "BTC-USD-SWAP", 7, 7, (("1000", "100000"),), (("10000", "100000"),)
        )

    def latest(self, inst_id: str) -> BookSnapshot | None:
        return self.snapshot

    def health(self) -> dict[str, str]:
        return {"BTC-USD-SWAP": "no book yet"}


@pytest.fixture
def books() -> Books:
    return Books()


@pytest.fixture
async def client(books: Books):  # type: ignore[no-untyped-def]
    store = FakeStore()
    clock = ManualClock(1_000)
    liability = LiabilityService(store.liability, MemoryBus(), clock, max_abs_delta_cents=100)
    pricer = Pricer(books, clock, PricerSettings(stale_after_ms=None), "book file b.json")

    async def ready() -> dict[str, str]:
        return {}

    context = ApiContext(
        liability=liability, dealer=DealerView(store), readiness=ready, quote=quote_router(pricer)
    )
    transport = httpx.ASGITransport(app=create_app(context), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


@pytest.mark.parametrize(
    ("query", "sats", "cents"),
    [
        ("direction=buy&sats=100000000", 100_000_000, 99_900),  # the worked example
        ("direction=buy&sats=100000000&immediate=false", 100_000_000, 99_880),
        ("direction=sell&sats=100000000", 100_000_000, 1_001_000),
        ("direction=buy&cents=100000", 100_100_000, 100_000),
        ("direction=sell&cents=100000&immediate=0", 9_988_000, 100_000),
    ],
)
async def test_prices(client: httpx.AsyncClient, query: str, sats: int, cents: int) -> None:
    response = await client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["amount_in_satoshis"], body["amount_in_cents"]) == (sats, cents)
    assert body["mid_rate_cents_per_sat"] == "0.0055"
    assert (body["book_source"], body["book_ts_ms"], body["inst_id"]) == (
        "book file b.json",
        7,
        "BTC-USD-SWAP",
    )


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("direction=buy&sats=0", "sats must be positive, got 0"),
        ("direction=buy&cents=-5", "cents must be positive, got -5"),
        ("direction=buy&sats=18446744073709551616", "does not fit in uint64"),
        ("direction=buy&sats=" + "9" * 100, "does not fit in uint64"),
        ("direction=buy&sats=1.5", "whole number"),
        ("direction=buy&sats=abc", "whole number"),
        ("direction=buy", "exactly one amount"),
        ("direction=buy&sats=1&cents=1", "exactly one amount"),
        ("direction=hold&sats=1", "direction must be buy"),
        ("sats=1", "direction must be buy"),
        ("direction=buy&sats=1&immediate=maybe", "immediate must be true or false"),
        ("direction=buy&cents=18446744073709551615", "overflow uint64"),
    ],
)
async def test_bad_input_is_422_with_a_message(
    client: httpx.AsyncClient, query: str, says: str
) -> None:
    response = await client.get(f"{URL}?{query}")
    assert response.status_code == 422
    assert says in response.json()["error"]


async def test_no_book_is_503_naming_the_source(client: httpx.AsyncClient, books: Books) -> None:
    books.snapshot = None
    response = await client.get(f"{URL}?direction=buy&sats=1000")
    assert response.status_code == 503
    assert response.json()["error"] == (
        "no fresh BTC-USD-SWAP book from the book file b.json: no book yet"
    )

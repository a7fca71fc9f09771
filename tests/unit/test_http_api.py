"""The HTTP API in process, with fakes behind the ports: validation, idempotency, shapes."""

from decimal import Decimal

import httpx
import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.api.http.app import ApiContext, create_app
from pegkeeper.api.http.liability import ServiceAuth
from pegkeeper.domain.records import PositionSnapshot
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.views.dealer import DealerView
from tests.fakes import FakeStore

URL = "/api/v1/liability/events"


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
async def client(store: FakeStore):
    liability = LiabilityService(
        store.liability, MemoryBus(), ManualClock(1000), max_abs_delta_cents=1_000_000
    )

    async def ready() -> dict[str, str]:
        return {"hedger": "ready"}

    app = create_app(ApiContext(liability=liability, dealer=DealerView(store), readiness=ready))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as c:
        yield c


async def test_post_is_idempotent_on_the_id(client: httpx.AsyncClient, store: FakeStore) -> None:
    first = await client.post(URL, json={"id": "t1", "delta_cents": 12345, "memo": "buy"})
    assert first.status_code == 201
    assert first.json()["liability_cents"] == 12345 and first.json()["seq"] == 1
    again = await client.post(URL, json={"id": "t1", "delta_cents": 12345, "memo": "buy"})
    assert again.status_code == 200 and again.json()["seq"] == 1
    assert len(store.liability.events) == 1
    other = await client.post(URL, json={"id": "t1", "delta_cents": 999})
    assert other.status_code == 409 and "t1" in other.json()["error"]
    assert await store.liability.balance_cents() == 12345


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"delta_cents": 5}', 422, "id must be"),
        (b'{"id": "", "delta_cents": 5}', 422, "id must be"),
        (b'{"id": "x", "delta_cents": 1.5}', 422, "integer number of cents"),
        (b'{"id": "x", "delta_cents": "100"}', 422, "integer number of cents"),
        (b'{"id": "x", "delta_cents": true}', 422, "integer number of cents"),
        (b'{"id": "x"}', 422, "integer number of cents"),
        (b'{"id": "x", "delta_cents": 0}', 422, "must not be 0"),
        (b'{"id": "x", "delta_cents": 1000001}', 422, "beyond the configured maximum"),
        (b'{"id": "x", "delta_cents": 99999999999999999999999}', 422, "integer number of cents"),
        (b'{"id": "x y", "delta_cents": 5}', 422, "id must be"),
        (b'{"id": "x", "delta_cents": 5, "memo": 7}', 422, "memo must be"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, store: FakeStore, body: bytes, status: int, says: str
) -> None:
    response = await client.post(URL, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert says in response.json()["error"]
    assert store.liability.events == []


async def test_a_liability_cannot_go_negative(client: httpx.AsyncClient, store: FakeStore) -> None:
    await client.post(URL, json={"id": "a", "delta_cents": 1000})
    response = await client.post(URL, json={"id": "b", "delta_cents": -1001})
    assert response.status_code == 409
    assert "negative" in response.json()["error"]
    assert await store.liability.balance_cents() == 1000 and len(store.liability.events) == 1


async def test_dealer_shape_before_and_after_a_snapshot(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    empty = (await client.get("/api/v1/dealer")).json()
    assert empty["liability_cents"] == 0 and empty["hedge_ratio"] is None
    assert empty["last_decision"] is None
    await client.post(URL, json={"id": "a", "delta_cents": 1_000_000})
    await store.hedge.record_position(
        PositionSnapshot(
            created_at_ms=5,
            correlation_id="c",
            instrument_id="BTC-USD-SWAP",
            size_contracts=Decimal(-98),
            avg_price_usd=Decimal("7900.5"),
            mark_price_usd=Decimal("7938.39"),
            exposure_cents=-980_000,
            liquidation_price_usd=Decimal("12345.6"),
            collateral=Decimal("1.5"),
            collateral_available=Decimal("1.2"),
            funding_balance=Decimal("1"),
            leverage=Decimal("0.8230"),
        )
    )
    body = (await client.get("/api/v1/dealer")).json()
    assert body["liability_cents"] == 1_000_000 and body["exposure_cents"] == -980_000
    assert body["hedge_ratio"] == "0.9800"  # -(-980 000) / 1 000 000
    assert body["position_contracts"] == "-98" and body["btc_price_usd"] == "7938.39"
    # the hedger's snapshot is the freshest reading: its figures, rounded once (leverage up)
    assert body["collateral_btc"] == "1.5" and body["leverage"] == "0.83"
    assert body["liquidation_price_usd"] == "12345.60"
    assert body["risk"]["source"] == "hedger" and body["risk"]["as_of_ms"] == 5
    # (12 345.60 - 7 938.39) / 7 938.39 = 55.517... %, rounded down
    assert body["risk"]["liquidation_distance_pct"] == "55.51"


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["services"] == {"hedger": "ready"}


async def test_a_store_failure_is_503_and_the_retry_is_recorded_once(
    client: httpx.AsyncClient, store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = store.liability.append

    async def busy(*args: object, **kwargs: object) -> object:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(store.liability, "append", busy)
    failed = await client.post(URL, json={"id": "r1", "delta_cents": 500})
    assert failed.status_code == 503 and "retry with the same id" in failed.json()["error"]
    monkeypatch.setattr(store.liability, "append", original)
    assert (await client.post(URL, json={"id": "r1", "delta_cents": 500})).status_code == 201
    assert (await client.post(URL, json={"id": "r1", "delta_cents": 500})).status_code == 200
    assert await store.liability.balance_cents() == 500


def app_with(store: FakeStore, **context: object) -> httpx.AsyncClient:
    liability = LiabilityService(
        store.liability, MemoryBus(), ManualClock(1000), max_abs_delta_cents=1_000_000
    )

    async def ready() -> dict[str, str]:
        return {}

    app = create_app(
        ApiContext(liability=liability, dealer=DealerView(store), readiness=ready, **context)  # type: ignore[arg-type]
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


WALLET_TOKEN = "wallet-token-0123456789abcdef"
BODY = b'{"id": "csrf1", "delta_cents": 100000}'


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [
        (  # what a form or fetch() on another site sends without asking
            {
                "content-type": "text/plain",
                "origin": "http://evil.example",
                "sec-fetch-site": "cross-site",
            },
            403,
            "cross-site request refused (Sec-Fetch-Site: cross-site)",
        ),
        (
            {"content-type": "application/json", "origin": "http://evil.example"},
            403,
            "cross-site request refused (Origin http://evil.example is not t)",
        ),
        (
            {"content-type": "text/plain"},
            415,
            "the body must be application/json, got text/plain",
        ),
    ],
)
async def test_a_cross_site_or_non_json_post_is_refused_and_nothing_is_written(
    store: FakeStore, headers: dict[str, str], status: int, says: str
) -> None:
    async with app_with(store) as client:
        response = await client.post(URL, content=BODY, headers=headers)
        assert (response.status_code, response.json()) == (status, {"error": says})
        assert store.liability.events == []
        same_site = {"content-type": "application/json", "origin": "http://t"}
        assert (await client.post(URL, content=BODY, headers=same_site)).status_code == 201


async def test_beyond_localhost_every_liability_post_needs_a_service_token(
    store: FakeStore,
) -> None:
    open_to_all = ServiceAuth({}, "0.0.0.0")
    async with app_with(store, service_auth=open_to_all) as client:
        refused = await client.post(URL, json={"id": "a", "delta_cents": 5})
        assert refused.status_code == 401
        assert refused.json()["error"] == (
            "liability changes need Authorization: Bearer <service token>"
        )
        anyone = await client.post(URL, json={"id": "a", "delta_cents": 5}, headers=bearer("x"))
        assert anyone.status_code == 403 and "PEGKEEPER_WEB__SERVICE_TOKENS" in anyone.text
    with_tokens = ServiceAuth({"wallet": WALLET_TOKEN}, "10.0.0.5")
    async with app_with(store, service_auth=with_tokens) as client:
        wrong = await client.post(URL, json={"id": "a", "delta_cents": 5}, headers=bearer("n" * 20))
        assert (
            wrong.status_code == 403 and wrong.json()["error"] == "the service token is not valid"
        )
        assert store.liability.events == []
        right = await client.post(
            URL, json={"id": "a", "delta_cents": 5}, headers=bearer(WALLET_TOKEN)
        )
        assert right.status_code == 201 and right.json()["liability_cents"] == 5
    # on this machine only, with no token configured, programs here post without one
    assert not ServiceAuth({}, "127.0.0.1").required and not ServiceAuth({}, "::1").required
    assert ServiceAuth({"wallet": WALLET_TOKEN}, "localhost").required


@pytest.mark.parametrize("source", ["galoy", "postgres"])
async def test_the_post_is_off_while_another_liability_source_is_active(
    store: FakeStore, source: str
) -> None:
    async with app_with(store, liability_source=source) as client:
        response = await client.post(URL, json={"id": "g1", "delta_cents": 5})
        assert response.status_code == 409
        assert response.json()["error"] == (
            f'the liability comes from the {source} source ([ledger] source = "{source}"): '
            "POST /api/v1/liability/events is off"
        )
        assert store.liability.events == []


async def test_the_openapi_document_gives_the_body_and_every_answer(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    post = document["paths"][URL]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert post["requestBody"]["required"] is True
    assert schema["required"] == ["id", "delta_cents"]
    assert schema["properties"]["delta_cents"]["type"] == "integer"
    assert {"201", "200", "400", "409", "422"} <= set(post["responses"])
    assert (
        "error" in post["responses"]["409"]["content"]["application/json"]["schema"]["properties"]
    )


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}

"""The Schwab broker's login against the local Schwab server: the access token refreshed ahead
of its expiry and stored encrypted, a 401 answered by one refresh, the refresh token's expiry
(warned of a day ahead, then CredentialsRejected without a retry loop), and a new login taken
up without a restart."""

from __future__ import annotations

import pytest
import structlog

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.token_store import EncryptedTokenStore
from pegkeeper.domain.credentials import OAuthTokens
from pegkeeper.domain.errors import CredentialsRejected, VenueUnavailable
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.brokers.schwab_server import SchwabServer

from .conftest import MakeBroker, intent, tokens_of

MINUTE_S = 60
DAY_S = 86_400


async def test_the_access_token_is_refreshed_a_minute_before_it_expires_and_stored(
    server: SchwabServer,
    make_broker: MakeBroker,
    logged_in: OAuthTokens,
    token_store: EncryptedTokenStore,
    clock: ManualClock,
) -> None:
    broker = await make_broker()
    await broker.account()
    clock.advance(28 * MINUTE_S)
    await broker.account()
    assert server.requests["token"] == 0

    clock.advance(MINUTE_S + 1)  # 59 s before the 30 minutes end
    await broker.account()

    assert server.requests["token"] == 1
    stored = await token_store.load("schwab")
    assert stored is not None
    assert stored.access_token != logged_in.access_token
    assert stored.refresh_token == logged_in.refresh_token
    assert stored.access_expires_at_ms == clock.now_ms() + 30 * MINUTE_S * 1000
    assert stored.refresh_expires_at_ms == logged_in.refresh_expires_at_ms  # not extended
    clock.advance(28 * MINUTE_S)  # the first access token has expired at the server
    await broker.account()
    assert server.requests["token"] == 1


async def test_a_refresh_by_another_process_is_used_without_asking_again(
    server: SchwabServer, make_broker: MakeBroker, logged_in: OAuthTokens, clock: ManualClock
) -> None:
    first, second = await make_broker(), await make_broker()
    await first.account()
    await second.account()
    clock.advance(29 * MINUTE_S + 30)

    await first.account()
    await second.account()

    assert server.requests["token"] == 1


async def test_a_read_answered_401_is_sent_again_once_after_a_refresh(
    server: SchwabServer, make_broker: MakeBroker, logged_in: OAuthTokens
) -> None:
    broker = await make_broker()
    server.fail_next("account", 401)

    account = await broker.account()

    assert account.account_id == "12345678"
    assert server.requests["token"] == 1
    assert server.requests["account"] == 2


async def test_an_order_answered_401_is_not_sent_again(
    server: SchwabServer, make_broker: MakeBroker, logged_in: OAuthTokens, clock: ManualClock
) -> None:
    broker = await make_broker()
    await broker.account()
    server.fail_next("place_order", 401)
    hedge = intent("h1", OrderSide.BUY, "5", clock.now_ms())

    with pytest.raises(VenueUnavailable, match="not processed"):
        await broker.place_order(hedge)

    assert server.requests["place_order"] == 1
    assert server.book.orders == {}
    assert server.requests["token"] == 0
    await broker.place_order(hedge)  # the next decision: refreshed first
    assert server.requests["token"] == 1
    assert len(server.book.orders) == 1


async def test_a_second_401_after_a_refresh_needs_a_new_login(
    server: SchwabServer, make_broker: MakeBroker, logged_in: OAuthTokens
) -> None:
    broker = await make_broker()
    server.fail_next("account", 401, times=2)

    with pytest.raises(CredentialsRejected, match="pegkeeper auth schwab"):
        await broker.account()


async def test_a_day_before_the_login_ends_a_warning_is_logged_once(
    make_broker: MakeBroker, logged_in: OAuthTokens, clock: ManualClock
) -> None:
    broker = await make_broker()
    assert await broker.login_expires_at_ms() == logged_in.refresh_expires_at_ms
    clock.advance(6 * DAY_S - 60)
    with structlog.testing.capture_logs() as early:
        await broker.account()
    assert [e for e in early if e["log_level"] == "warning"] == []

    clock.advance(120)
    with structlog.testing.capture_logs() as logged:
        await broker.account()
        clock.advance(3600)
        await broker.account()

    warnings = [e for e in logged if e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert "pegkeeper auth schwab" in warnings[0]["event"]
    assert warnings[0]["hours_left"] == 24.0
    for entry in logged:
        assert logged_in.refresh_token not in str(entry)
        assert logged_in.access_token not in str(entry)


async def test_an_expired_login_is_refused_without_asking_schwab(
    server: SchwabServer, make_broker: MakeBroker, logged_in: OAuthTokens, clock: ManualClock
) -> None:
    broker = await make_broker()
    clock.advance(7 * DAY_S)

    with pytest.raises(CredentialsRejected) as refused:
        await broker.account()

    message = str(refused.value)
    assert message.startswith("schwab: the login expired at 2026-01-12 15:00 UTC")
    assert "run `pegkeeper auth schwab` again" in message
    assert server.requests["token"] == 0
    assert server.requests["account"] == 0


async def test_a_refresh_token_schwab_refuses_is_not_offered_again_until_a_new_login(
    server: SchwabServer,
    make_broker: MakeBroker,
    logged_in: OAuthTokens,
    token_store: EncryptedTokenStore,
    clock: ManualClock,
) -> None:
    broker = await make_broker()
    await broker.account()
    server.expire_logins()
    clock.advance(30 * MINUTE_S)

    for _ in range(3):
        with pytest.raises(CredentialsRejected, match="pegkeeper auth schwab") as refused:
            await broker.account()
        assert logged_in.refresh_token not in str(refused.value)
    assert server.requests["token"] == 1

    await token_store.save("schwab", tokens_of(server.grant(), clock.now_ms()))
    assert (await broker.account()).account_id == "12345678"


async def test_no_stored_login_is_refused_with_what_to_run(
    server: SchwabServer, make_broker: MakeBroker
) -> None:
    broker = await make_broker()

    with pytest.raises(CredentialsRejected, match="no login is stored; run `pegkeeper auth"):
        await broker.account()
    assert await broker.login_expires_at_ms() is None


async def test_the_app_key_and_secret_must_be_set(make_broker: MakeBroker) -> None:
    with pytest.raises(CredentialsRejected, match="PEGKEEPER_EQUITIES__SCHWAB__APP_KEY"):
        await make_broker(app_secret="")

"""`pegkeeper auth schwab`: the Charles Schwab login. Prints the address to open, reads the
address the browser lands on after the login, exchanges its code for tokens and stores them
encrypted (PEGKEEPER_ENCRYPTION_KEY) in pegkeeper's database. It shows the accounts the login
sees and when it expires; never a token.

The encryption key, the app's key and secret and the database are checked before the login, so
that a code (valid for seconds) is not spent on a run that cannot store its tokens. A pasted
address without a code, or a refused code, stores nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from pegkeeper.config import Settings
from pegkeeper.domain.errors import InvalidInput, VenueError, VenueMisconfigured

if TYPE_CHECKING:
    from pegkeeper.adapters.brokers.schwab_oauth import SchwabApp
    from pegkeeper.adapters.store.token_store import TokenCipher

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (default: $PEGKEEPER_CONFIG)"),
]


class StoreUnreachable(Exception):
    """The database did not open: the login is not started."""


@dataclass(frozen=True, slots=True)
class StoredLogin:
    accounts: list[str]  # the account numbers the login sees
    refresh_expires_at_ms: int
    accounts_error: str = ""  # the accounts could not be read (the login is stored anyway)


def register(
    app: typer.Typer,
    load_settings: Callable[[Path | None], Settings],
    fail: Callable[[str], NoReturn],
    usage: Callable[[str], NoReturn],
) -> None:
    auth_app = typer.Typer(help="Broker logins, stored encrypted.", no_args_is_help=True)
    app.add_typer(auth_app, name="auth")

    @auth_app.command("schwab")
    def schwab(config: ConfigOption = None) -> None:
        """Log in to Charles Schwab: open the printed address, log in and allow access, then
        paste the address the browser was sent to. Run it again before the login's 7 days end."""
        from pegkeeper.adapters.brokers.schwab import schwab_app
        from pegkeeper.adapters.brokers.schwab_oauth import code_from_redirect
        from pegkeeper.adapters.store.token_store import TokenCipher

        settings = load_settings(config)
        try:
            login_app = schwab_app(settings.equities.schwab)
            cipher = TokenCipher.from_environment()
        except VenueMisconfigured as error:
            usage(str(error))
        typer.echo("1. Open this address in a browser, log in to Schwab and allow access:\n")
        typer.echo(f"   {login_app.authorize_url()}\n")
        pasted = typer.prompt("2. Paste the whole address the browser was sent to")
        try:
            code = code_from_redirect(pasted, login_app.redirect_uri)
        except InvalidInput as error:
            usage(f"{error}; nothing was stored")
        try:
            stored = asyncio.run(_log_in(settings, login_app, cipher, code))
        except (VenueError, VenueMisconfigured, StoreUnreachable) as error:
            fail(f"{error}; nothing was stored")
        _report(settings, stored)


async def _log_in(
    settings: Settings, app: SchwabApp, cipher: TokenCipher, code: str
) -> StoredLogin:
    import httpx
    from sqlalchemy.exc import SQLAlchemyError

    from pegkeeper.adapters.brokers.schwab import build_schwab
    from pegkeeper.adapters.brokers.schwab_oauth import SchwabOAuth
    from pegkeeper.adapters.clock import RealClock
    from pegkeeper.adapters.store.database import open_store
    from pegkeeper.adapters.store.token_store import EncryptedTokenStore

    clock = RealClock()
    try:
        store = await open_store(settings.database_url, migrate=True)
    except (OSError, SQLAlchemyError) as error:
        raise StoreUnreachable(f"cannot open the database: {str(error)[:200]}") from None
    try:
        tokens_store = EncryptedTokenStore(store.broker_tokens, cipher, clock)
        timeout = settings.equities.schwab.request_timeout_seconds
        async with httpx.AsyncClient(timeout=timeout) as http:
            tokens = await SchwabOAuth(app, http, clock).exchange_code(code)
        await tokens_store.save("schwab", tokens)
        broker = build_schwab(settings.equities.schwab, tokens_store, clock)
        try:
            accounts = await broker.login_accounts()
        except (VenueError, VenueMisconfigured) as error:
            return StoredLogin([], tokens.refresh_expires_at_ms, str(error))
        finally:
            await broker.aclose()
        return StoredLogin(accounts, tokens.refresh_expires_at_ms)
    finally:
        await store.close()


def _report(settings: Settings, stored: StoredLogin) -> None:
    from sqlalchemy.engine import make_url

    from pegkeeper.domain.equities.broker import masked_account

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    expires = datetime.fromtimestamp(stored.refresh_expires_at_ms / 1000, tz=UTC)
    typer.echo(f"\nstored the Schwab login, encrypted, in {where}")
    if stored.accounts_error:
        typer.echo(f"its accounts could not be read: {stored.accounts_error}")
    else:
        shown = ", ".join(masked_account(a) for a in stored.accounts) or "none"
        typer.echo(f"it sees {len(stored.accounts)} account(s): {shown}")
        wanted = settings.equities.schwab.account_number
        if wanted and wanted not in stored.accounts:
            typer.echo(
                f"warning: [equities.schwab] account_number {masked_account(wanted)} is not "
                "among them"
            )
        elif not wanted and len(stored.accounts) > 1:
            typer.echo("set [equities.schwab] account_number to the account to hedge in")
    typer.echo(
        f"the login expires {expires:%Y-%m-%d %H:%M} UTC: run `pegkeeper auth schwab` "
        "again before then"
    )

"""Inventory moves at Alpaca's Broker API (specs/equities.md, "Rebalancing"): tokenization
(mint shares into tokens; the redeem requests Alpaca opens for tokens sent to its redemption
wallet), the USDC wallet (deposit address, withdrawals, deposits) and the USD <-> USDC
conversion (a `USDC/USD` market order). On the same HTTP client, error mapping and
per-minute request budget as AlpacaBroker (pass its `budgets` to share the account's).

The roundings at this boundary, each once, all in favour of not sending more than is held:
- share quantities to Alpaca's 9 decimals, truncated (`alpaca_qty_truncated`);
- USDC amounts to 6 decimals, floored (`usdc_floor`, from `domain.units.usdc_units_floor`);
- a notional in whole cents, rounded down (`notional_cents_down`).
An amount that rounds to nothing is refused before any request.

Nothing is sent twice: a mint carries pegkeeper's issuer_request_id and a conversion its
client order id, so an uncertain answer (timeout, 5xx) or Alpaca's "already exists" is
resolved by looking the request up by that id, never by sending again. A withdrawal has no
id of pegkeeper's: an uncertain one raises VenueUncertain and is found with
`matching_withdrawal` (amount, address, time) before anything is repeated.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal
from typing import Any

from pegkeeper.adapters.brokers.alpaca import rest_client
from pegkeeper.adapters.brokers.alpaca_config import AlpacaConfig, AlpacaMode, what_keys
from pegkeeper.adapters.brokers.alpaca_http import (
    KEY_ENV_VARS,
    AlpacaBudgets,
    AlpacaHttp,
    Endpoint,
    log,
)
from pegkeeper.adapters.brokers.alpaca_inventory_shapes import (
    cash_conversion,
    is_conversion,
    items,
    tokenization_request,
    usdc_position,
    wallet_transfer,
)
from pegkeeper.domain.equities.accumulation import plain
from pegkeeper.domain.equities.transfers import (
    CashConversion,
    TokenizationKind,
    TokenizationRequest,
    WalletDirection,
    WalletTransfer,
)
from pegkeeper.domain.errors import (
    NotFound,
    OrderRejected,
    VenueUnavailable,
    VenueUncertain,
)
from pegkeeper.domain.orders import OrderSide
from pegkeeper.domain.units import ONE_CENT_USD, USDC_UNITS_PER_USDC, usdc_units_floor
from pegkeeper.ports import Clock

QTY_STEP = Decimal("0.000000001")  # Alpaca takes share quantities to 9 decimals
DUPLICATE_CODE = "40910000"  # Alpaca's code for an id it has seen (409)
REUSED_CLIENT_ID = "client_order_id must be unique"
CONVERSION_SYMBOL = "USDC/USD"
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def alpaca_qty_truncated(qty_shares: Decimal) -> Decimal:
    return qty_shares.quantize(QTY_STEP, rounding=ROUND_DOWN)


def usdc_floor(amount_usdc: Decimal) -> Decimal:
    return Decimal(usdc_units_floor(amount_usdc)) / USDC_UNITS_PER_USDC


def notional_cents_down(notional_usd: Decimal) -> Decimal:
    return notional_usd.quantize(ONE_CENT_USD, rounding=ROUND_DOWN)


class AlpacaInventory:
    def __init__(
        self,
        config: AlpacaConfig,
        clock: Clock,
        *,
        issuer: str,
        network: str,
        wallet_network: str = "ethereum",
        budgets: AlpacaBudgets | None = None,
    ) -> None:
        """`issuer` and `network`: the tokens' issuer and chain as Alpaca names them (e.g.
        "st0x", "base"); `wallet_network`: the chain of the USDC deposit address."""
        if config.mode is not AlpacaMode.BROKER or not config.account_id:
            raise ValueError(
                "AlpacaInventory needs the Alpaca Broker API and alpaca.account_id: "
                "tokenization and wallets are Broker API endpoints"
            )
        if not config.key_id or not config.secret_key:
            raise ValueError(f"the Alpaca Broker API needs keys: set {KEY_ENV_VARS}")
        self.config = config
        self.issuer, self.network, self.wallet_network = issuer, network, wallet_network
        self._account = f"/accounts/{config.account_id}"
        self._orders = f"/trading/accounts/{config.account_id}/orders"
        self._positions = f"/trading/accounts/{config.account_id}/positions"
        client = rest_client(config)
        shared = budgets or AlpacaBudgets(config.requests_per_minute, clock)
        self._http = AlpacaHttp(client, "alpaca-broker", what_keys(config), shared, clock)

    def __repr__(self) -> str:
        return f"AlpacaInventory({self.config!r}, issuer={self.issuer}, network={self.network})"

    # -- tokenization ----------------------------------------------------------------------------

    async def request_mint(
        self, symbol: str, qty_shares: Decimal, wallet_address: str, issuer_request_id: str
    ) -> TokenizationRequest:
        """Asks Alpaca to turn `qty_shares` (truncated to 9 dp) into tokens sent to the
        wallet. An uncertain answer or "already exists" is resolved by looking the request
        up by `issuer_request_id` (VenueUncertain when it cannot be found yet)."""
        qty = alpaca_qty_truncated(qty_shares)
        _check_mint(symbol, qty_shares, qty, wallet_address, issuer_request_id)
        body = {
            "underlying_symbol": symbol,
            "qty": plain(qty),
            "issuer": self.issuer,
            "network": self.network,
            "wallet_address": wallet_address,
            "issuer_request_id": issuer_request_id,
        }
        try:
            answer = await self._http.post(f"{self._account}/tokenization/mint", body)
        except VenueUncertain as error:
            log.warning("alpaca mint uncertain: looking it up", issuer_request_id=issuer_request_id)
            return await self._adopt_mint(symbol, qty, issuer_request_id, error)
        except OrderRejected as error:
            if error.code != DUPLICATE_CODE:
                raise
            return await self._adopt_mint(symbol, qty, issuer_request_id, error)
        return tokenization_request(answer)

    async def tokenization_request_by_issuer_id(
        self, issuer_request_id: str
    ) -> TokenizationRequest:
        """The request with this issuer_request_id; NotFound when Alpaca has none."""
        answer = await self._http.get(
            Endpoint.TOKENIZATION,
            f"{self._account}/tokenization/requests:by_issuer_request_id",
            {"issuer_request_id": issuer_request_id},
        )
        return tokenization_request(answer)

    async def tokenization_requests(
        self, kind: TokenizationKind, since_ms: int
    ) -> list[TokenizationRequest]:
        """Every mint or redeem request created at or after `since_ms` (Alpaca's clock)."""
        answer = await self._http.get(
            Endpoint.TOKENIZATION, f"{self._account}/tokenization/requests", {"type": kind.value}
        )
        found = [tokenization_request(item) for item in items(answer, "tokenization requests")]
        return [r for r in found if r.kind is kind and r.created_ms >= since_ms]

    async def _adopt_mint(
        self, symbol: str, qty: Decimal, issuer_request_id: str, cause: Exception
    ) -> TokenizationRequest:
        try:
            found = await self.tokenization_request_by_issuer_id(issuer_request_id)
        except (NotFound, VenueUnavailable) as error:
            raise VenueUncertain(
                f"mint {issuer_request_id}: {cause}; not found by its issuer_request_id "
                f"({error}): look it up again before sending it"
            ) from None
        if found.kind is not TokenizationKind.MINT or (found.symbol, found.qty) != (symbol, qty):
            raise OrderRejected(
                f"issuer_request_id {issuer_request_id} is taken at alpaca by a {found.kind} of "
                f"{plain(found.qty)} {found.symbol}, not a mint of {plain(qty)} {symbol}: "
                "nothing was sent"
            )
        log.info("alpaca mint adopted", issuer_request_id=issuer_request_id)
        return found

    # -- the USDC wallet -------------------------------------------------------------------------

    async def deposit_address(self, asset: str) -> str:
        """Where a deposit of `asset` (USDC) to the account goes, lower case."""
        answer = await self._http.get(
            Endpoint.WALLETS,
            f"{self._account}/wallets",
            {"asset": asset, "network": self.wallet_network},
        )
        address = str(answer.get("address") or "") if isinstance(answer, dict) else ""
        if not ADDRESS.match(address):
            raise VenueUncertain(f"alpaca answered a wallet without an address: {answer!r}")
        return address.lower()

    async def withdraw_usdc(self, amount_usdc: Decimal, address: str) -> WalletTransfer:
        """Sends `amount_usdc` (floored to 6 dp) from the Alpaca wallet to a whitelisted
        address. VenueUncertain: look it up with `matching_withdrawal` before repeating."""
        amount = usdc_floor(amount_usdc)
        if amount <= 0 or not ADDRESS.match(address):
            raise OrderRejected(
                f"withdrawal of {plain(amount_usdc)} USDC to {address!r}: expected at least "
                "0.000001 USDC and a 0x address of 40 hex digits; nothing was sent"
            )
        body = {"amount": plain(amount), "asset": "USDC", "address": address}
        try:
            answer = await self._http.post(f"{self._account}/wallets/transfers", body)
        except OrderRejected as error:
            raise OrderRejected(
                f"alpaca refused the withdrawal of {plain(amount)} USDC to {address}: {error}; "
                "nothing was sent",
                code=error.code,
            ) from None
        return wallet_transfer(answer)

    async def wallet_transfers(self, since_ms: int) -> list[WalletTransfer]:
        """Withdrawals and deposits created at or after `since_ms` (Alpaca's clock)."""
        answer = await self._http.get(Endpoint.WALLETS, f"{self._account}/wallets/transfers")
        found = [wallet_transfer(item) for item in items(answer, "wallet transfers")]
        return [t for t in found if t.created_ms >= since_ms]

    async def matching_withdrawal(
        self, amount_usdc: Decimal, address: str, since_ms: int
    ) -> WalletTransfer | None:
        """The earliest withdrawal of this amount (floored as sent) to this address created
        at or after `since_ms`: what an uncertain `withdraw_usdc` became, if anything.
        `since_ms` should be taken before the request, less any clock difference."""
        amount, address = usdc_floor(amount_usdc), address.lower()
        matches = [
            t
            for t in await self.wallet_transfers(since_ms)
            if t.direction is WalletDirection.OUTGOING
            and t.amount == amount
            and t.address == address
        ]
        return min(matches, key=lambda t: t.created_ms, default=None)

    async def usdc_balance(self) -> Decimal:
        """The USDC the account holds (its `USDCUSD` position)."""
        answer = await self._http.get(Endpoint.POSITIONS, self._positions)
        return usdc_position(answer)

    # -- USD <-> USDC ----------------------------------------------------------------------------

    async def convert(
        self,
        client_order_id: str,
        side: OrderSide,
        *,
        notional_usd: Decimal | None = None,
        qty_usdc: Decimal | None = None,
    ) -> CashConversion:
        """A `USDC/USD` market order: BUY spends dollars (by `notional_usd`, whole cents
        down, leaving room for Alpaca's ~2 % collar is the caller's sizing) or buys
        `qty_usdc`; SELL sells `qty_usdc` (9 dp truncated). An uncertain answer or a reused
        client id is resolved by looking the order up by its client id."""
        body = _conversion_body(client_order_id, side, notional_usd, qty_usdc)
        try:
            answer = await self._http.post(self._orders, body)
        except VenueUncertain as error:
            return await self._adopt_conversion(client_order_id, side, error)
        except OrderRejected as error:
            if REUSED_CLIENT_ID not in str(error):
                raise
            return await self._adopt_conversion(client_order_id, side, error)
        return cash_conversion(answer)

    async def conversion(self, client_order_id: str) -> CashConversion:
        """The conversion order placed with this client id; NotFound when there is none."""
        answer = await self._http.get(
            Endpoint.ORDER,
            f"{self._orders}:by_client_order_id",
            {"client_order_id": client_order_id},
        )
        if not is_conversion(answer):
            raise OrderRejected(
                f"client id {client_order_id} is an order of {answer.get('symbol')} at alpaca, "
                "not a USDC/USD conversion"
            )
        return cash_conversion(answer)

    async def _adopt_conversion(
        self, client_order_id: str, side: OrderSide, cause: Exception
    ) -> CashConversion:
        try:
            found = await self.conversion(client_order_id)
        except (NotFound, VenueUnavailable) as error:
            raise VenueUncertain(
                f"conversion {client_order_id}: {cause}; not found by its client id ({error}): "
                "look it up again before sending it"
            ) from None
        if found.side is not side:
            raise OrderRejected(
                f"client id {client_order_id} is taken at alpaca by a USDC/USD {found.side}, "
                f"not a {side}: nothing was sent"
            )
        log.info("alpaca conversion adopted", client_order_id=client_order_id)
        return found

    async def aclose(self) -> None:
        self._http.close()


def _check_mint(
    symbol: str, qty_shares: Decimal, qty: Decimal, wallet_address: str, issuer_request_id: str
) -> None:
    if not symbol or qty <= 0:
        raise OrderRejected(
            f"mint of {plain(qty_shares)} {symbol!r}: expected a symbol and at least "
            "0.000000001 share after truncation to 9 decimals; nothing was sent"
        )
    if not ADDRESS.match(wallet_address) or not issuer_request_id:
        raise OrderRejected(
            f"mint of {plain(qty)} {symbol}: expected a 0x wallet address of 40 hex digits "
            f"(got {wallet_address!r}) and an issuer_request_id; nothing was sent"
        )


def _conversion_body(
    client_order_id: str,
    side: OrderSide,
    notional_usd: Decimal | None,
    qty_usdc: Decimal | None,
) -> dict[str, Any]:
    if (notional_usd is None) == (qty_usdc is None) or (
        side is OrderSide.SELL and notional_usd is not None
    ):
        raise OrderRejected(
            f"conversion {client_order_id}: expected notional_usd (buy only) or qty_usdc, "
            "exactly one; nothing was sent"
        )
    body: dict[str, Any] = {
        "symbol": CONVERSION_SYMBOL,
        "side": side.value,
        "type": "market",
        "time_in_force": "gtc",
        "client_order_id": client_order_id,
    }
    if notional_usd is not None:
        amount, field = notional_cents_down(notional_usd), "notional"
    else:
        assert qty_usdc is not None
        amount, field = alpaca_qty_truncated(qty_usdc), "qty"
    if amount <= 0:
        raise OrderRejected(
            f"conversion {client_order_id}: {field} rounds to {plain(amount)}: expected at "
            "least one cent or 0.000000001 USDC; nothing was sent"
        )
    body[field] = plain(amount)
    return body

"""Where money moves: order venues (a derivatives exchange, later a broker), a venue's accounts,
the operator's onchain wallet, and where alerts are delivered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Protocol

from pegkeeper.domain.collateral import (
    Alert,
    WalletTransaction,
)
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.orders import OrderIntent, OrderReport
from pegkeeper.domain.venue import (
    DepositRecord,
    FundingPayment,
    FundingRate,
    SettledFundingRate,
    TransferReport,
    VenueBalances,
    VenuePosition,
    VenueResync,
    WithdrawalReport,
)


class OrderVenue(Protocol):
    """Where orders go, a derivatives venue or a broker: what the execution core needs. Every
    order carries pegkeeper's client order id.

    The placing calls raise OrderRejected when the venue refused (no effect; PositionAlreadyClosed
    for a close that found nothing to close), VenueUnavailable when it did not process the
    request, and VenueUncertain when the outcome is unknown: the caller must then look the
    client id up with `order` before acting.
    """

    async def place_market_order(self, intent: OrderIntent) -> OrderReport: ...

    async def place_limit_order(self, intent: OrderIntent) -> OrderReport:
        """A limit or post-only order at `intent.limit_price_usd`; it may rest (state accepted)
        until filled or canceled. A post-only order that would take liquidity is canceled."""
        ...

    async def close_position(self, intent: OrderIntent) -> OrderReport: ...

    async def order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        """The venue's view of an order; raises NotFound when the venue does not know it."""
        ...

    async def open_orders(self, instrument_id: str) -> list[OrderReport]:
        """Every order live at the venue on this instrument, pegkeeper's or not."""
        ...

    async def cancel_order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        """Raises NotFound for an unknown order, OrderRejected when it is already final."""
        ...


class Venue(OrderVenue, Protocol):
    """A derivatives venue: orders, and the positions and balances they leave."""

    name: str

    async def instrument(self, instrument_id: str) -> Instrument: ...

    async def position(self, instrument_id: str) -> VenuePosition: ...

    async def balances(self, currency: str) -> VenueBalances: ...

    def position_changes(self, instrument_id: str) -> AsyncIterator[VenuePosition | VenueResync]:
        """Yields the position whenever the venue reports it changed (fills, liquidation), and
        a VenueResync after the stream was interrupted (then read everything again)."""
        ...


class FundingVenue(Protocol):
    """A venue's accounts: transfers between its funding and trading accounts, onchain
    deposits to it and withdrawals from it. Transfers and withdrawals carry pegkeeper's client
    id; VenueUncertain means the request may have gone through: look the id up first."""

    async def transfer(
        self, client_id: str, currency: str, amount: Decimal, from_account: str, to_account: str
    ) -> TransferReport: ...

    async def transfer_state(self, client_id: str) -> TransferReport:
        """Raises NotFound when the venue knows no transfer with this client id."""
        ...

    async def deposit_address(self, currency: str) -> str: ...

    async def deposits(self, currency: str) -> list[DepositRecord]:
        """The venue's recent deposit history, newest first."""
        ...

    async def withdraw(
        self,
        client_id: str,
        currency: str,
        amount: Decimal,
        to_address: str,
        chain: str,
        fee: Decimal | None = None,
    ) -> WithdrawalReport: ...

    async def withdrawal(self, client_id: str) -> WithdrawalReport:
        """Raises NotFound when the venue knows no withdrawal with this client id."""
        ...

    async def withdrawal_fee(self, currency: str) -> tuple[str, Decimal]:
        """(chain, minimum fee) of an onchain withdrawal of `currency`; the fee is paid on top
        of the amount, from the funding account."""
        ...

    async def funding_payments(self, currency: str, since_ms: int) -> list[FundingPayment]:
        """The swap funding the trading account paid or received in `currency` at or after
        `since_ms`, oldest first."""
        ...


class FundingRates(Protocol):
    """A venue's perpetual funding, public data: what the next settlement charges, as the venue
    publishes it, and the rates it settled."""

    async def funding_rate(self, instrument_id: str) -> FundingRate: ...

    async def funding_rate_history(
        self, instrument_id: str, since_ms: int
    ) -> list[SettledFundingRate]:
        """The settlements at or after `since_ms` (and not after now), oldest first."""
        ...


class Wallet(Protocol):
    """The operator's onchain wallet. Every send signals replace-by-fee (BIP 125) and carries
    pegkeeper's operation id as its comment, so an uncertain send can be looked up.

    `send` and `bump_fee` raise OrderRejected when the wallet refused (insufficient funds, a
    fee rate not above the old one), VenueUnavailable when it did not process the request,
    and VenueUncertain when the outcome is unknown."""

    name: str

    async def new_address(self) -> str: ...

    async def balance_sats(self) -> int:
        """Spendable, confirmed or not."""
        ...

    async def send(
        self, address: str, amount_sats: int, fee_rate_sat_vb: Decimal, comment: str
    ) -> str:
        """Pays exactly `amount_sats` to `address` (the fee comes on top); returns the tx id."""
        ...

    async def transaction(self, tx_id: str) -> WalletTransaction:
        """Raises NotFound for a transaction the wallet does not know."""
        ...

    async def find_sent(self, comment: str, since_ms: int) -> list[WalletTransaction]:
        """Transactions this wallet sent with `comment` since `since_ms` (all of them, however
        many payments came after), replaced ones included."""
        ...

    async def bump_fee(self, tx_id: str, fee_rate_sat_vb: Decimal) -> str:
        """Replaces the unconfirmed `tx_id` by one paying `fee_rate_sat_vb`, the same
        destination amount; returns the new tx id."""
        ...


class AlertSink(Protocol):
    async def deliver(self, alert: Alert) -> None:
        """Raises when the alert could not be delivered; the caller records that."""
        ...

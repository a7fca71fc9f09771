"""The Protocols services depend on. Adapters implement them; bootstrap wires them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Protocol

from pegkeeper.domain.funding import (
    Alert,
    AlertRecord,
    FeeBump,
    FundingDecisionRecord,
    FundingOperation,
    LeverageSnapshot,
    OperationRecord,
    OperationUpdate,
    WalletTransaction,
)
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.liability import LedgerEntry, LiabilityChange, LiabilityEvent
from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.domain.orders import Fill, OrderIntent, OrderReport, OrderState
from pegkeeper.domain.quotes import Quote
from pegkeeper.domain.records import DecisionRecord, OrderRecord, PegStatsRow, PositionSnapshot
from pegkeeper.domain.roll import RollRecord
from pegkeeper.domain.venue import (
    DepositRecord,
    TransferReport,
    VenueBalances,
    VenuePosition,
    VenueResync,
    WithdrawalReport,
)


class Clock(Protocol):
    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of this clock's time (a simulated clock may run faster)."""
        ...


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, topic: str, payload: bytes) -> None: ...

    def subscribe(self, pattern: str) -> Subscription:
        """Messages on topics matching `pattern` ("liability", "bbo.*") from now on."""
        ...


class RawMessageFeed(Protocol):
    """Raw exchange frames with their local receive time, and a way to ask for a snapshot."""

    def messages(self) -> AsyncIterator[tuple[int, bytes]]: ...

    async def resubscribe(self, inst_id: str) -> None: ...


class BestBidAsk(Protocol):
    """One normalised top-of-book update; prices and sizes are decimal strings."""

    @property
    def exchange(self) -> str: ...
    @property
    def base(self) -> str: ...
    @property
    def quote(self) -> str: ...
    @property
    def bid(self) -> str | None: ...
    @property
    def ask(self) -> str | None: ...
    @property
    def bid_size(self) -> str | None: ...
    @property
    def ask_size(self) -> str | None: ...
    @property
    def exchange_ms(self) -> int | None: ...
    @property
    def receive_ms(self) -> int: ...


class BookProvider(Protocol):
    """Order books for the price server: the live OKX feed, or a recorded book."""

    def latest(self, inst_id: str) -> BookSnapshot | None:
        """The current checked book, or None while there is none or it is not to be trusted."""
        ...

    def health(self) -> dict[str, str]:
        """Per instrument: "ok", or why there is no book to quote from."""
        ...


class QuoteFeed(Protocol):
    """One exchange's quotes for a fixed set of markets, (base, quote) pairs."""

    @property
    def exchange(self) -> str: ...
    @property
    def markets(self) -> Sequence[tuple[str, str]]: ...

    def quotes(self) -> AsyncIterator[BestBidAsk]:
        """Quotes until `close()`; connection errors are retried inside."""
        ...

    async def reconnect(self, cause: str) -> None: ...

    async def close(self) -> None: ...


class Venue(Protocol):
    """A derivatives venue. Every order carries pegkeeper's client order id.

    `place_market_order` and `close_position` raise OrderRejected when the venue refused (no
    effect), VenueUnavailable when it did not process the request, and VenueUncertain when the
    outcome is unknown: the caller must then look the client id up with `order` before acting.
    """

    name: str

    async def instrument(self, instrument_id: str) -> Instrument: ...

    async def position(self, instrument_id: str) -> VenuePosition: ...

    async def balances(self, currency: str) -> VenueBalances: ...

    async def place_market_order(self, intent: OrderIntent) -> OrderReport: ...

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

    async def find_sent(self, comment: str) -> list[WalletTransaction]:
        """Transactions this wallet sent with `comment`, replaced ones included."""
        ...

    async def bump_fee(self, tx_id: str, fee_rate_sat_vb: Decimal) -> str:
        """Replaces the unconfirmed `tx_id` by one paying `fee_rate_sat_vb`, the same
        destination amount; returns the new tx id."""
        ...


class AlertSink(Protocol):
    async def deliver(self, alert: Alert) -> None:
        """Raises when the alert could not be delivered; the caller records that."""
        ...


class LiabilityRepository(Protocol):
    async def append(
        self, change: LiabilityChange, correlation_id: str, now_ms: int
    ) -> tuple[LiabilityEvent, bool]:
        """Append atomically; returns (event, created). The same id again returns the stored
        event with created=False; the same id with other content raises ConflictError; a change
        that would take the balance below 0 raises ConflictError and writes nothing."""
        ...

    async def balance_cents(self) -> int: ...

    async def get(self, event_id: str) -> LiabilityEvent | None: ...

    async def recent(self, limit: int) -> list[LiabilityEvent]: ...


class QuoteRepository(Protocol):
    async def create(self, quote: Quote, entry: LedgerEntry | None = None) -> LiabilityEvent | None:
        """Store the quote with its `created` event in one transaction. With `entry` the quote
        (in state accepted) is accepted in that same transaction: its `accepted` event and the
        ledger entry are appended too, and the ledger event is returned. A ledger refusal
        (ConflictError) writes nothing."""
        ...

    async def accept(
        self, quote_id: str, now_ms: int, entry: LedgerEntry
    ) -> tuple[Quote, LiabilityEvent, bool]:
        """In one transaction: mark the quote accepted, append its `accepted` event and the
        ledger entry; returns (quote, ledger event, whether the event is new). Raises
        QuoteNotFound, QuoteNotAcceptable (expired at now_ms, or accepted before) or the
        ledger's ConflictError; then nothing is written. Of two concurrent accepts of one
        quote exactly one succeeds."""
        ...

    async def get(self, quote_id: str) -> Quote | None: ...

    async def events(self, quote_id: str) -> list[tuple[str, int]]:
        """The quote's events as (kind, created_at_ms), oldest first."""
        ...


class HedgeRepository(Protocol):
    async def record_decision(
        self, decision: DecisionRecord, order: OrderIntent | None = None
    ) -> None:
        """Store the decision and, when given, the order it makes (with its `created` state)
        in one committed transaction: the order row exists before the order is sent."""
        ...

    async def last_decision(self) -> DecisionRecord | None: ...

    async def get_decision(self, decision_id: str) -> DecisionRecord | None: ...

    async def create_order(self, intent: OrderIntent) -> None:
        """Store the order and its `created` state in one committed transaction."""
        ...

    async def record_order_state(
        self,
        client_order_id: str,
        state: OrderState,
        now_ms: int,
        *,
        venue_order_id: str = "",
        filled_contracts: Decimal = Decimal(0),
        avg_price_usd: Decimal | None = None,
        message: str = "",
        fills: Sequence[Fill] = (),
    ) -> None:
        """Append the order's new state, and its fills not seen before, in one transaction."""
        ...

    async def record_fills(self, fills: list[Fill], correlation_id: str) -> int:
        """Store fills not seen before (idempotent on fill id); returns how many were new."""
        ...

    async def get_order(self, client_order_id: str) -> OrderRecord | None: ...

    async def open_orders(self) -> list[OrderRecord]:
        """Orders whose latest state is not terminal, oldest first."""
        ...

    async def recent_orders(self, limit: int) -> list[OrderRecord]: ...

    async def fills_for(self, client_order_id: str) -> list[Fill]: ...

    async def record_position(self, snapshot: PositionSnapshot) -> None: ...

    async def last_position(self) -> PositionSnapshot | None: ...


class PegRepository(Protocol):
    async def record(self, rows: Sequence[PegStatsRow]) -> None: ...

    async def history(
        self, symbol: str, since_ms: int, until_ms: int, max_points: int
    ) -> list[PegStatsRow]:
        """Rows in [since_ms, until_ms], oldest first, thinned evenly to at most max_points."""
        ...

    async def downsample(self, older_than_ms: int) -> int:
        """Replace the raw rows of whole minutes before `older_than_ms` by one row per minute
        (the last of each); returns how many minute rows were written."""
        ...


class FundingRepository(Protocol):
    async def record_decision(
        self, decision: FundingDecisionRecord, operation: FundingOperation | None = None
    ) -> None:
        """The decision and, when given, the operation it makes (state `created`) in one
        committed transaction: the operation's client id is stored before any request."""
        ...

    async def record_operation_state(
        self, operation_id: str, update: OperationUpdate, now_ms: int
    ) -> None:
        """Append the operation's new state; raises ValueError for an unknown operation."""
        ...

    async def get_operation(self, operation_id: str) -> OperationRecord | None: ...

    async def open_operations(self) -> list[OperationRecord]:
        """Operations whose latest state is not terminal, oldest first."""
        ...

    async def recent_operations(self, limit: int) -> list[OperationRecord]: ...

    async def last_decision(self) -> FundingDecisionRecord | None: ...

    async def recent_decisions(self, limit: int) -> list[FundingDecisionRecord]: ...

    async def record_fee_bump(self, bump: FeeBump, update: OperationUpdate) -> None:
        """The bump and the operation's state with the new tx id, in one transaction."""
        ...

    async def fee_bumps(self, operation_id: str) -> list[FeeBump]: ...

    async def record_leverage(self, snapshot: LeverageSnapshot) -> None: ...

    async def recent_leverage(self, limit: int) -> list[LeverageSnapshot]: ...

    async def record_alert(self, record: AlertRecord) -> None: ...

    async def recent_alerts(self, limit: int) -> list[AlertRecord]: ...


class RollRepository(Protocol):
    async def record_roll(
        self, decision: DecisionRecord, roll: RollRecord, legs: Sequence[OrderIntent]
    ) -> None:
        """A roll of a dated future: its decision, the roll, and both orders (opening the next
        expiry, closing the old one), each in state `created`, in one transaction."""
        ...

    async def recent_rolls(self, limit: int) -> list[RollRecord]: ...


class Store(Protocol):
    liability: LiabilityRepository
    quotes: QuoteRepository
    hedge: HedgeRepository
    pegs: PegRepository
    funding: FundingRepository
    rolls: RollRepository

    async def close(self) -> None: ...

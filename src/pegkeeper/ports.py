"""The Protocols services depend on. Adapters implement them; bootstrap wires them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from pegkeeper.domain.audit import AuditTrail, LiabilityPoint, OrderStateChange
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
from pegkeeper.domain.galoy import (
    GaloyPage,
    GaloyTransaction,
    ParsedTransaction,
    PendingEntry,
    StoredTrade,
    UserTrade,
)
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.ledger_sync import Backlog, LedgerReadiness, SourceState
from pegkeeper.domain.liability import LedgerEntry, LiabilityChange, LiabilityEvent
from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind
from pegkeeper.domain.orderbook import BooksTally, BookUpdate, OkxBook
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


class BookDecoder(Protocol):
    """A venue's order book messages, raw as received, into its books: each message is parsed,
    applied to its instrument's book and checked (checksum, sequence). Bad input raises
    nothing: it is counted in `tally`, and a malformed book message drops its book."""

    @property
    def tally(self) -> BooksTally: ...

    @property
    def books(self) -> Mapping[str, OkxBook]: ...

    @property
    def last_inst_id(self) -> str | None:
        """The instrument of the last book message handled."""
        ...

    def decode(self, raw: bytes) -> BookUpdate | None:
        """None for a message that carries no book data (an acknowledgement, another channel,
        bytes that cannot be parsed)."""
        ...


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
        self,
        decision: DecisionRecord,
        order: OrderIntent | None = None,
        *,
        slot_version: int | None = None,
    ) -> None:
        """Store the decision and, when given, the order it makes (with its `created` state)
        in one committed transaction: the order row exists before the order is sent. Raises
        SlotTaken, writing nothing, while another order on the order's slot is open, or when
        `slot_version` (read before deciding) is no longer the slot's version."""
        ...

    async def slot_version(self, slot: str) -> int:
        """How many orders were ever opened on `slot` (0 for none)."""
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


class ReadinessGate(Protocol):
    """Whether trading may go on now. The hedger and the funding service ask before they act
    and wait, saying why, while the gate is closed (a half-imported ledger, a stopped source)."""

    async def readiness(self) -> LedgerReadiness: ...


class LedgerStateRepository(Protocol):
    """How far each polled ledger source has read, and whether it is healthy."""

    async def get(self, source: str) -> SourceState | None: ...

    async def record_start(self, source: str, now_ms: int) -> None:
        """The source (re)starts: it is no longer stopped; what it read before is kept."""
        ...

    async def record_success(self, source: str, now_ms: int, *, has_more: bool = False) -> None:
        """A complete read: `last_poll_ms` is now, the last error is cleared."""
        ...

    async def record_failure(
        self, source: str, now_ms: int, error: str, *, stopped: bool
    ) -> None: ...


class LedgerBacklogReader(Protocol):
    async def backlog(self, unpaired_since_ms: int) -> Backlog:
        """Unpaired transactions created at or after `unpaired_since_ms`, entries not posted,
        and transactions rejected."""
        ...


class GaloyApi(Protocol):
    """The dealer account of a Galoy (Blink) wallet backend, over its GraphQL API.

    Raises LedgerAuthError when the credentials are refused (after one new login when a token
    expired), LedgerUnavailable for anything that may pass (network, 5xx, a malformed answer).
    """

    async def transactions(self, before: str | None, last: int) -> GaloyPage:
        """Up to `last` transactions newer than the one at cursor `before` (with None: the
        oldest `last`), newest first."""
        ...

    async def close(self) -> None: ...


class GaloyRepository(LedgerBacklogReader, Protocol):
    async def latest_cursor(self) -> str | None:
        """The cursor of the newest transaction read by the forward import."""
        ...

    async def store_page(
        self, transactions: Sequence[ParsedTransaction], newest_cursor: str | None, now_ms: int
    ) -> list[ParsedTransaction]:
        """Store the transactions not stored before (the id decides) in one transaction, with
        `newest_cursor` as the new latest cursor when given; returns the ones that were new."""
        ...

    async def unpaired(self) -> list[GaloyTransaction]: ...

    async def due_for_recheck(self, checked_before_ms: int) -> GaloyTransaction | None:
        """The oldest unpaired transaction last checked before `checked_before_ms`."""
        ...

    async def cursor_before(self, tx: GaloyTransaction) -> str | None:
        """The cursor of the newest stored transaction created before `tx` (None: none is)."""
        ...

    async def mark_checked(self, tx_id: str, now_ms: int) -> None: ...

    async def group(self, created_at_ms: int) -> tuple[list[GaloyTransaction], list[StoredTrade]]:
        """The readable transactions created at that time, and the trades (not reversed) that
        pair any of them."""
        ...

    async def record_pairing(
        self, new: Sequence[UserTrade], wrong: Sequence[StoredTrade], now_ms: int
    ) -> list[StoredTrade]:
        """In one transaction: store the new trades with their pending ledger entries, and
        reverse the wrong ones (a correction each, its legs waiting again). Returns the new
        trades with their ids."""
        ...

    async def unposted(self) -> list[PendingEntry]:
        """Entries not yet in the liability ledger, oldest trade first."""
        ...

    async def mark_posted(self, event_id: str) -> None: ...

    async def trades(self) -> list[tuple[StoredTrade, str | None]]:
        """Every trade with the id of the correction that reversed it (None: it stands)."""
        ...


class LiabilityQuery(Protocol):
    """A wallet's own reckoning of the whole liability (a SQL query on its ledger)."""

    async def liability_cents(self) -> int:
        """Raises LedgerUnavailable, naming what was wrong with the answer or the connection."""
        ...

    async def close(self) -> None: ...


class OperatorActionRepository(Protocol):
    async def record(self, action: OperatorAction) -> None:
        """Append the action (its id is unique; the same id again raises ConflictError)."""
        ...

    async def recent(self, limit: int) -> list[OperatorAction]:
        """Newest first."""
        ...

    async def last_of(self, kinds: Sequence[OperatorActionKind]) -> OperatorAction | None:
        """The newest action of one of these kinds."""
        ...


class AuditReader(Protocol):
    """Read-only queries over the audit trail, for people: histories and trails."""

    async def liability_history(
        self, since_ms: int, until_ms: int, max_points: int
    ) -> list[LiabilityPoint]:
        """The balance after each event in [since_ms, until_ms], oldest first, thinned evenly
        to at most max_points, preceded by the balance in force at since_ms (if any)."""
        ...

    async def position_history(
        self, since_ms: int, until_ms: int, max_points: int
    ) -> list[PositionSnapshot]:
        """Snapshots in [since_ms, until_ms], oldest first, thinned evenly to at most
        max_points, preceded by the snapshot in force at since_ms (if any)."""
        ...

    async def liability_events_for(
        self, correlation_ids: Sequence[str]
    ) -> list[LiabilityEvent]: ...

    async def order_states(self, client_order_id: str) -> list[OrderStateChange]:
        """Every state the order went through, oldest first."""
        ...

    async def trail(self, correlation_id: str) -> AuditTrail: ...

    async def recent_quotes(self, limit: int) -> list[Quote]:
        """Newest first."""
        ...

    async def fees_paid(self) -> dict[str, Decimal]:
        """The fees of every recorded fill, summed per currency (positive: paid)."""
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

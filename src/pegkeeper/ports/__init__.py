"""The Protocols services depend on, by the side of pegkeeper they face; adapters implement
them and bootstrap wires them. Every port is importable from here."""

from __future__ import annotations

from pegkeeper.ports.equities import Broker, ChainSource, EquityRepository, MarketCalendar
from pegkeeper.ports.ledger import (
    GaloyApi,
    GaloyRepository,
    LedgerBacklogReader,
    LedgerStateRepository,
    LiabilityQuery,
)
from pegkeeper.ports.market import (
    BboFeed,
    BestBidAsk,
    BookDecoder,
    BookProvider,
    RawMessageFeed,
)
from pegkeeper.ports.rebalancing import RebalanceRepository
from pegkeeper.ports.runtime import (
    Bus,
    Clock,
    ReadinessGate,
    Subscription,
)
from pegkeeper.ports.store import (
    AuditReader,
    CollateralRepository,
    HedgeRepository,
    LiabilityRepository,
    OperatorActionRepository,
    PegRepository,
    QuoteRepository,
    RollRepository,
    Store,
)
from pegkeeper.ports.tokens import TokenRepository, TokenStore
from pegkeeper.ports.venues import (
    AlertSink,
    FundingRates,
    FundingVenue,
    OrderVenue,
    Venue,
    Wallet,
)

__all__ = [
    "AlertSink",
    "AuditReader",
    "BboFeed",
    "BestBidAsk",
    "BookDecoder",
    "BookProvider",
    "Broker",
    "Bus",
    "ChainSource",
    "Clock",
    "CollateralRepository",
    "EquityRepository",
    "FundingRates",
    "FundingVenue",
    "GaloyApi",
    "GaloyRepository",
    "HedgeRepository",
    "LedgerBacklogReader",
    "LedgerStateRepository",
    "LiabilityQuery",
    "LiabilityRepository",
    "MarketCalendar",
    "OperatorActionRepository",
    "OrderVenue",
    "PegRepository",
    "QuoteRepository",
    "RawMessageFeed",
    "ReadinessGate",
    "RebalanceRepository",
    "RollRepository",
    "Store",
    "Subscription",
    "TokenRepository",
    "TokenStore",
    "Venue",
    "Wallet",
]

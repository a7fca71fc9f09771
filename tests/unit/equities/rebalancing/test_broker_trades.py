"""Broker fills as the equity store keeps them (P&L trades), against a broker reading stamped
before its request and answered after: older ones are in the reading, newer ones are applied
once, and one inside the request makes the reading ambiguous."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.equities.inventory import (
    CASH_ASSET,
    BrokerReading,
    InventoryView,
    OnchainReading,
    broker_trade_changes,
    inventory_view,
)
from pegkeeper.domain.equities.pnl import Trade, TradeSource

D = Decimal
STAMP_MS, ANSWERED_MS = 1_000, 1_100


def _trade(trade_id: str, quantity: str, ts_ms: int) -> Trade:
    return Trade(trade_id, "AAPL", TradeSource.BROKER, D(quantity), D(150), ts_ms, D("0.5"))


def _view(*trades: Trade) -> InventoryView:
    onchain = [OnchainReading("AAPL", D(10), 50), OnchainReading(CASH_ASSET, D(1_000), 50)]
    broker = [
        BrokerReading("AAPL", D(20), STAMP_MS, ANSWERED_MS),
        BrokerReading(CASH_ASSET, D(5_000), STAMP_MS, ANSWERED_MS),
    ]
    changes = [c for t in trades for c in broker_trade_changes(t)]
    return inventory_view(onchain, broker, changes)


def test_a_buy_fill_adds_its_shares_and_takes_its_cost_and_fee() -> None:
    shares, cash = broker_trade_changes(_trade("f1", "2", 1_200))
    assert (shares.asset, shares.delta, shares.at) == ("AAPL", D(2), 1_200)
    assert (cash.asset, cash.delta) == (CASH_ASSET, D("-300.5"))  # 2 x 150 + 0.5
    _, sold = broker_trade_changes(_trade("f2", "-2", 1_200))
    assert sold.delta == D("299.5")  # 2 x 150 - 0.5


def test_only_fills_after_the_answer_are_applied() -> None:
    view = _view(_trade("old", "3", 900), _trade("new", "2", 1_200))
    assert view["AAPL"].broker == D(22)  # 20 read, the old fill in it, the new one added
    assert view[CASH_ASSET].broker == D("4699.5")  # 5 000 - 300.5
    assert view["AAPL"].ambiguous == ""


def test_a_fill_during_the_request_makes_the_reading_ambiguous() -> None:
    view = _view(_trade("during", "2", 1_050))
    assert view["AAPL"].broker == D(20)
    assert "during" in view["AAPL"].ambiguous

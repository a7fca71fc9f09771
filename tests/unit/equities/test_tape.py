"""The P&L tape: trades inserted anywhere, in any batches, give the entries of a replay of
all the trades in time order, with work bounded by the snapshot interval."""

import os
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegkeeper.domain.equities.fifo import replay
from pegkeeper.domain.equities.pnl import (
    Trade,
    TradeKey,
    TradeSource,
    broker_trade_key,
    onchain_trade_key,
)
from pegkeeper.domain.equities.tape import PnlTape
from pegkeeper.domain.errors import InvalidInput

D = Decimal
ON, BR = TradeSource.ONCHAIN, TradeSource.BROKER
EXAMPLES = int(os.environ.get("PEGKEEPER_FIFO_EXAMPLES", "300"))


def keyed(trade: Trade, position: int = 0) -> tuple[TradeKey, Trade]:
    if trade.source is ON:
        return onchain_trade_key(trade.ts_ms, position, 0), trade
    return broker_trade_key(trade.ts_ms, trade.trade_id), trade


def golden() -> list[tuple[TradeKey, Trade]]:
    """The spec's golden case (realised 3.45), each trade keyed by its place."""
    rows = [
        ("o1", ON, "-0.3", "150", 0),
        ("o2", ON, "-0.4", "151", 60),
        ("o3", ON, "0.2", "148", 120),
        ("o4", ON, "-0.6", "149", 180),
        ("b1", BR, "1", "148.5", 240),
        ("o5", ON, "1.5", "147.5", 300),
        ("b2", BR, "-1", "149", 400),
    ]
    return [
        keyed(Trade(i, "AAPL", s, D(q), D(p), ts * 1000), n)
        for n, (i, s, q, p, ts) in enumerate(rows)
    ]


def test_the_golden_case_inserted_late_and_out_of_order_totals_3_45() -> None:
    trades = golden()
    tape = PnlTape(snapshot_every=2)
    assert tape.insert([trades[4], trades[6]]) == 0
    assert tape.insert([trades[5], trades[0]]) == 0
    at = tape.insert([trades[1], trades[2], trades[3]])
    assert at == 1  # o2 lands after o1, the first entry stays
    assert [t.trade_id for t in tape.trades] == ["o1", "o2", "o3", "o4", "b1", "o5", "b2"]
    assert tape.entries[-1].realised_total_usd == D("3.45")
    assert tape.entries == replay([t for _, t in trades])
    summary = tape.book.summary("AAPL", D("150"))
    # -0.3 - 0.4 + 0.2 - 0.6 + 1 + 1.5 - 1: 0.4 long from o5 at 147.5, marked at 150
    assert summary.position == D("0.4") and summary.unrealised_usd == D("1")


def test_an_insert_at_the_end_replays_from_the_last_snapshot_only() -> None:
    tape = PnlTape(snapshot_every=256)
    history = [
        keyed(Trade(f"o{n}", "AAPL", ON, D(1 if n % 2 else -1), D(100 + n % 7), n * 1000), n)
        for n in range(1000)
    ]
    tape.insert(history)
    assert tape.replayed_trades == 1000
    late = keyed(Trade("o1000", "AAPL", ON, D(1), D(101), 999_500), 1000)
    assert tape.insert([late]) == 1000
    # the snapshot before trade 768 is the last at or before 1000: 1001 - 768 trades again
    assert tape.replayed_trades == 1000 + 233
    assert tape.entries == replay([t for _, t in sorted([*history, late], key=lambda p: p[0])])


def test_a_trade_already_on_the_tape_is_refused_and_nothing_changes() -> None:
    trades = golden()
    tape = PnlTape()
    tape.insert(trades[:3])
    before = list(tape.entries)
    with pytest.raises(InvalidInput, match="o2 is already on the tape"):
        tape.insert([trades[1], trades[5]])
    assert tape.entries == before and len(tape.trades) == 3


def test_from_ts_gives_every_entry_at_or_after_a_time() -> None:
    tape = PnlTape()
    tape.insert(golden())
    assert [e.trade_id for e in tape.from_ts(180_000)] == ["o4", "b1", "o5", "b2"]
    assert [e.trade_id for e in tape.from_ts(180_001)] == ["b1", "o5", "b2"]
    assert tape.from_ts(400_001) == []


def test_snapshot_every_must_be_positive() -> None:
    with pytest.raises(InvalidInput, match="snapshot_every must be 1 or more, not 0"):
        PnlTape(snapshot_every=0)


TRADES = st.lists(
    st.tuples(
        st.sampled_from(["AAPL", "TSLA"]),
        st.sampled_from([ON, BR]),
        st.integers(-5, 5).filter(bool),
        st.integers(90, 110),
        st.integers(0, 20),  # seconds: many trades share a second
    ),
    max_size=40,
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(TRADES, st.integers(1, 5), st.integers(0, 2**32))
def test_any_batches_in_any_order_equal_the_replay_of_all(
    rows: list[tuple[str, TradeSource, int, int, int]], every: int, seed: int
) -> None:
    trades = [
        keyed(Trade(f"t{n}", symbol, source, D(q) / 4, D(p) / 3, ts * 1000), n)
        for n, (symbol, source, q, p, ts) in enumerate(rows)
    ]
    shuffled = random.Random(seed).sample(trades, len(trades))
    tape = PnlTape(snapshot_every=every)
    while shuffled:
        size = random.Random(seed + len(shuffled)).randint(1, 4)
        batch, shuffled = shuffled[:size], shuffled[size:]
        before = list(tape.entries)
        at = tape.insert(batch)
        assert tape.entries[:at] == before[:at]
    in_order = [t for _, t in sorted(trades, key=lambda p: p[0])]
    assert tape.trades == in_order
    assert tape.entries == replay(in_order)

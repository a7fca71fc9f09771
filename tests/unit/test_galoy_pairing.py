"""Galoy transactions read and paired into user trades as stablesats does (specs/galoy.md)."""

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegkeeper.domain.galoy import (
    GaloyTransaction,
    MalformedResponse,
    RejectedTransaction,
    StoredTrade,
    UserTrade,
    correction_event_id,
    is_pair,
    pair_transactions,
    parse_edge,
    repair_group,
    trade_event_id,
    trade_memo,
    usd_value_cents,
)
from pegkeeper.domain.liability import EVENT_ID_PATTERN

T = 1_700_000_000_000


def tx(
    tx_id: str,
    currency: str,
    amount: int,
    usd_cents: int,
    *,
    at_ms: int = T,
    memo: str | None = None,
    via: str = "SettlementViaIntraLedger",
    direction: str | None = None,
) -> GaloyTransaction:
    return GaloyTransaction(
        tx_id=tx_id,
        cursor=f"c-{tx_id}",
        created_at_ms=at_ms,
        direction=direction or ("SEND" if amount < 0 else "RECEIVE"),
        memo=memo,
        status="SUCCESS",
        settlement_amount=amount,
        settlement_currency=currency,
        settlement_via=via,
        usd_cents=usd_cents,
    )


def edge(**overrides: Any) -> dict[str, Any]:
    node = {
        "id": "65f0a1b2c3d4e5f6a7b80001",
        "createdAt": 1_700_000_000,
        "direction": "RECEIVE",
        "memo": None,
        "status": "SUCCESS",
        "settlementAmount": 40_000,
        "settlementCurrency": "BTC",
        "settlementFee": 0,
        # 0.025 cents per sat (BTC at 25 000 USD): base 25 000 000 000, offset 12
        "settlementPrice": {"base": 25_000_000_000, "offset": 12, "currencyUnit": "MINOR"},
        "settlementVia": {"__typename": "SettlementViaIntraLedger"},
        "initiationVia": {"__typename": "InitiationViaIntraLedger"},
    }
    node.update(overrides)
    return {"cursor": "Y3Vyc29yMQ==", "node": node}


# --- reading --------------------------------------------------------------------------------


def test_a_transaction_is_read_with_its_usd_value() -> None:
    parsed = parse_edge(edge())
    assert isinstance(parsed, GaloyTransaction)
    # 40 000 sats * 25 000 000 000 * 10^-12 = 1 000 cents
    assert parsed.usd_cents == 1_000
    assert parsed.created_at_ms == 1_700_000_000_000
    assert (parsed.settlement_amount, parsed.settlement_currency) == (40_000, "BTC")
    assert parsed.settlement_via == "SettlementViaIntraLedger" and parsed.cursor == "Y3Vyc29yMQ=="
    assert '"settlementAmount":40000' in parsed.raw


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"settlementCurrency": "EUR"}, "unknown settlementCurrency 'EUR'; expected BTC or USD"),
        ({"settlementAmount": None}, "missing settlementAmount"),
        ({"settlementAmount": 12.5}, "settlementAmount must be a whole number of minor units"),
        ({"settlementAmount": "ten"}, "settlementAmount must be a whole number"),
        ({"createdAt": "yesterday"}, "createdAt must be a whole number of seconds"),
        ({"direction": "SIDEWAYS"}, "unknown direction 'SIDEWAYS'; expected SEND or RECEIVE"),
        ({"settlementPrice": None}, "settlementPrice must be an object with base and offset"),
        ({"settlementVia": None}, "settlementVia must be an object with its __typename"),
        ({"memo": 7}, "memo must be a string or null"),
    ],
)
def test_an_unreadable_transaction_is_rejected_with_the_reason(
    overrides: dict[str, Any], reason: str
) -> None:
    parsed = parse_edge(edge(**overrides))
    assert isinstance(parsed, RejectedTransaction)
    assert reason in parsed.reason
    assert parsed.tx_id == "65f0a1b2c3d4e5f6a7b80001" and parsed.raw


def test_every_problem_of_a_transaction_is_named() -> None:
    parsed = parse_edge(edge(settlementCurrency="USDT", settlementAmount=None))
    assert isinstance(parsed, RejectedTransaction)
    assert parsed.reason == (
        "unknown settlementCurrency 'USDT'; expected BTC or USD; missing settlementAmount"
    )


def test_an_amount_sent_as_a_whole_float_is_read() -> None:
    parsed = parse_edge(edge(settlementAmount=-1000.0, settlementCurrency="USD"))
    assert isinstance(parsed, GaloyTransaction) and parsed.settlement_amount == -1000


@pytest.mark.parametrize(
    "bad",
    [
        {"node": {"id": "x"}},  # no cursor
        {"cursor": "c"},  # no node
        {"cursor": "c", "node": {"createdAt": 1}},  # no id
        {"cursor": "c", "node": {"id": "x" * 129}},  # an id longer than the store keeps
        "not an edge",
    ],
)
def test_an_edge_without_cursor_or_id_makes_the_answer_unreadable(bad: object) -> None:
    with pytest.raises(MalformedResponse):
        parse_edge(bad)


@pytest.mark.parametrize(
    ("amount", "base", "offset", "cents"),
    [
        (40_000, 25_000_000_000, 12, 1_000),  # 0.025 cents per sat
        (-40_000, 25_000_000_000, 12, -1_000),
        (1, 5, 1, 0),  # 0.5 -> 0 (to even)
        (3, 5, 1, 2),  # 1.5 -> 2 (to even)
        (5, 5, 1, 2),  # 2.5 -> 2 (to even)
        (-3, 5, 1, -2),  # -1.5 -> -2
        (7, 6, 1, 4),  # 4.2 -> 4
        (-1_234, 10**12, 12, -1_234),  # a USD leg: one cent per cent
        (3, 7, 0, 21),
        # a large amount stays exact: 2 100 000 000 000 000 sats at 0.0123456789 cents
        (2_100_000_000_000_000, 123_456_789, 10, 25_925_925_690_000),
    ],
)
def test_usd_value_rounds_half_to_even_exactly(
    amount: int, base: int, offset: int, cents: int
) -> None:
    assert usd_value_cents(amount, base, offset) == cents


# --- pairing --------------------------------------------------------------------------------


def test_stablesats_unify_example() -> None:
    # stablesats' own unit test: memo-matched legs pair even 5 cents apart; tx3/tx4 pair; the
    # lone USD receive stays unpaired
    earlier = T - 86_400_000
    tx1 = tx("id1", "BTC", 1_000, 10, memo="JournalId:1")
    tx2 = tx("id2", "USD", -10, 15, memo="JournalId:1")
    tx3 = tx("id3", "BTC", -1_000, 10, at_ms=earlier, memo="JournalId:2")
    tx4 = tx("id4", "USD", 10, 10, at_ms=earlier, memo="JournalId:2")
    lone = tx("unpaired", "USD", 10, 10, at_ms=earlier, memo="JournalId:3")
    trades, unpaired = pair_transactions([tx1, tx2, tx3, tx4, lone])
    assert unpaired == [lone]
    assert sorted(trades, key=lambda t: t.created_at_ms) == [
        # a user sold 10 cents for 1 000 sats: the dealer received cents, the liability shrinks
        UserTrade("id3", "id4", earlier, usd_cents=10, sats=-1_000, matched_by="memo"),
        # a user bought 10 cents: the liability grows by 10
        UserTrade("id1", "id2", T, usd_cents=-10, sats=1_000, matched_by="memo"),
    ]
    assert [t.delta_cents for t in trades] == [-10, 10]


def test_without_journal_memos_legs_pair_within_one_cent() -> None:
    btc = tx("a", "BTC", 40_000, 1_000)
    assert is_pair(btc, tx("b", "USD", -1_001, -1_001))
    assert is_pair(btc, tx("b", "USD", -999, -999))
    assert not is_pair(btc, tx("b", "USD", -1_002, -1_002))


def test_a_journal_memo_on_either_leg_must_match_the_other() -> None:
    btc = tx("a", "BTC", 40_000, 1_000, memo="JournalId:abc")
    assert not is_pair(btc, tx("b", "USD", -1_000, -1_000))
    assert not is_pair(btc, tx("b", "USD", -1_000, -1_000, memo="JournalId:xyz"))
    assert is_pair(btc, tx("b", "USD", -9_999, -9_999, memo="JournalId:abc"))
    # ordinary memos do not decide: the amounts do
    assert is_pair(tx("a", "BTC", 40_000, 1_000, memo="coffee"), tx("b", "USD", -1_000, -1_000))


@pytest.mark.parametrize(
    "other",
    [
        tx("b", "USD", -1_000, -1_000, at_ms=T + 1_000),  # another second
        tx("b", "BTC", -40_000, -1_000),  # the same currency
        tx("b", "USD", 1_000, 1_000, direction="RECEIVE"),  # the same direction
        tx("b", "USD", -1_000, -1_000, via="SettlementViaLn"),  # another settlement method
    ],
)
def test_legs_that_differ_in_time_currency_direction_or_method_never_pair(
    other: GaloyTransaction,
) -> None:
    assert not is_pair(tx("a", "BTC", 40_000, 1_000), other)


def test_transactions_worth_no_cent_are_not_paired_nor_left_waiting() -> None:
    trades, unpaired = pair_transactions([tx("a", "BTC", 1, 0), tx("b", "USD", 0, 0)])
    assert trades == [] and unpaired == []


legs = st.lists(
    st.tuples(
        st.sampled_from(["BTC", "USD"]),
        st.integers(-3, 3),  # USD value around 1 000 cents, so some pair and some not
        st.integers(0, 2),  # the second it happened
        st.booleans(),  # sent or received
    ),
    max_size=12,
)


@given(legs, st.randoms(use_true_random=False))
def test_pairing_does_not_depend_on_the_order_the_legs_arrived(
    specs: list[tuple[str, int, int, bool]], rng: random.Random
) -> None:
    txs = [
        tx(
            f"t{i:02d}",
            currency,
            (1 if sent else -1) * (1_000 + delta),
            (1 if sent else -1) * (1_000 + delta),
            at_ms=T + second * 1_000,
            direction="SEND" if sent else "RECEIVE",
        )
        for i, (currency, delta, second, sent) in enumerate(specs)
    ]
    shuffled = txs[:]
    rng.shuffle(shuffled)
    assert pair_transactions(shuffled) == pair_transactions(txs)
    trades, unpaired = pair_transactions(txs)
    used = [leg for t in trades for leg in t.pair] + [u.tx_id for u in unpaired]
    assert sorted(used) == sorted(t.tx_id for t in txs)  # each leg used exactly once


def test_a_group_paired_afresh_finds_a_stored_pairing_wrong() -> None:
    # d (BTC, worth 1 000 cents) was paired with c (-1 000 cents) before e (-1 001 cents) of the
    # same second was read; with all three known, d pairs with e (first by id), c waits
    d = tx("d", "BTC", 40_000, 1_000)
    e = tx("e", "USD", -1_001, -1_001)
    c = tx("f", "USD", -1_000, -1_000)
    stored = StoredTrade("galoy-trade-d-f", UserTrade("d", "f", T, -1_000, 40_000, "amount"))
    repair = repair_group([d, e, c], [stored])
    assert repair.wrong == [stored]
    assert repair.new == [UserTrade("d", "e", T, -1_001, 40_000, "amount")]
    # a stored pairing the fresh one agrees with is left alone
    right = StoredTrade("galoy-trade-d-e", repair.new[0])
    assert repair_group([d, e, c], [right]).wrong == []
    assert repair_group([d, e, c], [right]).new == []


# --- event ids and memos ----------------------------------------------------------------------


def test_event_ids_are_derived_from_the_legs() -> None:
    a, b = "65f0a1b2c3d4e5f6a7b80001", "65f0a1b2c3d4e5f6a7b80002"
    assert trade_event_id(a, b) == f"galoy-trade-{a}-{b}"
    assert trade_event_id(a, b, 2) == f"galoy-trade-{a}-{b}-g2"
    assert correction_event_id(f"galoy-trade-{a}-{b}") == f"galoy-correction-{a}-{b}"
    odd = trade_event_id("id with spaces/" + "x" * 80, "y")
    assert EVENT_ID_PATTERN.match(odd) and odd.startswith("galoy-trade-h") and len(odd) == 53
    assert odd != trade_event_id("id with spaces/" + "x" * 80, "y", 2)
    long_trade = trade_event_id("a" * 60, "b" * 60)
    assert EVENT_ID_PATTERN.match(correction_event_id(long_trade))


def test_the_memo_says_what_the_user_did() -> None:
    bought = UserTrade("b1", "u1", T, usd_cents=-1_234, sats=49_360, matched_by="memo")
    assert trade_memo(bought) == (
        "galoy: a user bought 12.34 USD for 49360 sats (btc tx b1, usd tx u1, paired by memo)"
    )
    sold = UserTrade("b2", "u2", T, usd_cents=4_000, sats=-160_000, matched_by="amount")
    assert trade_memo(sold).startswith("galoy: a user sold 40.00 USD for 160000 sats")

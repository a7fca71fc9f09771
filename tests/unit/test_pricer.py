"""The pricer: which book it quotes from, staleness by the exchange's time, the fees."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.domain.quote_math import Direction, FeeRates
from pegkeeper.services.market.pricer import BookUnavailable, Pricer, PricerSettings

NOW_MS = 1_700_000_000_000


class Books:
    def __init__(self, snapshot: BookSnapshot | None, reason: str = "no book yet") -> None:
        self.snapshot = snapshot
        self.reason = reason
        self.reads = 0

    def latest(self, inst_id: str) -> BookSnapshot | None:
        self.reads += 1
        return self.snapshot

    def health(self) -> dict[str, str]:
        return {"BTC-USD-SWAP": self.reason}


def book(
    ts_ms: int = NOW_MS,
    bids: tuple[tuple[str, str], ...] = (("1000", "10"),),
    asks: tuple[tuple[str, str], ...] = (("10000", "10"),),
) -> BookSnapshot:
    return BookSnapshot.from_levels("okx", "BTC-USD-SWAP", ts_ms, ts_ms, bids, asks)


def pricer(books: Books, stale_after_ms: int | None = 30_000, **fees: Decimal) -> Pricer:
    settings = PricerSettings(stale_after_ms=stale_after_ms, fees=FeeRates(**fees))
    return Pricer(books, ManualClock(NOW_MS), settings, "OKX live books feed")


def test_prices_from_a_fresh_book() -> None:
    p = pricer(Books(book(NOW_MS - 30_000)))  # exactly at the limit is still fresh
    assert p.cents_from_sats(Direction.BUY, 10**8, immediate=True) == 99_900
    assert p.sats_from_cents(Direction.SELL, 100_000, immediate=False) == 9_988_000
    assert p.mid_rate_cents_per_sat() == Decimal("0.0055")
    assert p.status().fresh and p.status().detail == "ok"


def test_no_book_names_the_source_and_why() -> None:
    p = pricer(Books(None, "stale: no valid book for 31.0 s"))
    with pytest.raises(BookUnavailable) as raised:
        p.cents_from_sats(Direction.BUY, 100, immediate=True)
    assert str(raised.value) == (
        "no fresh BTC-USD-SWAP book from the OKX live books feed: stale: no valid book for 31.0 s"
    )
    assert not p.status().fresh and "31.0 s" in p.status().detail


def test_a_book_older_than_the_limit_by_its_exchange_time_is_not_quoted() -> None:
    p = pricer(Books(book(NOW_MS - 30_001)))
    with pytest.raises(BookUnavailable, match=r"is 30\.0 s old \(exchange time 1699999969999 ms\)"):
        p.mid_rate_cents_per_sat()
    assert "price_server.stale_after_seconds" in p.status().detail


def test_a_recorded_book_never_goes_stale() -> None:
    p = pricer(Books(book(ts_ms=0)), stale_after_ms=None)
    assert p.cents_from_sats(Direction.SELL, 10**8, immediate=True) == 1_001_000


@pytest.mark.parametrize(
    ("bids", "asks", "says"),
    [((), (("10000", "1"),), "has no bids"), ((("1000", "1"),), (), "has no asks")],
)
def test_a_one_sided_book_is_unavailable(bids, asks, says) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BookUnavailable, match=says):
        pricer(Books(book(bids=bids, asks=asks))).book()


def test_a_book_with_a_bad_level_is_unavailable() -> None:
    with pytest.raises(BookUnavailable, match="unusable"):
        pricer(Books(book(bids=(("0", "1"),)))).book()


def test_the_book_is_converted_once_per_snapshot() -> None:
    books = Books(book())
    p = pricer(books)
    first = p.book()
    assert p.book() is first
    books.snapshot = book(NOW_MS - 1)
    assert p.book() is not first


def test_fee_rates() -> None:
    p = pricer(Books(book()), base_fee_rate=Decimal("0.001"), delayed_fee_rate=Decimal("0.002"))
    assert (p.fee_rate(True), p.fee_rate(False)) == (Decimal("0.0015"), Decimal("0.003"))

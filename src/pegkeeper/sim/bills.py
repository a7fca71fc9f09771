"""The engine's funding payments as the venue's bills, by settlement currency: a periodic
reader asks for those since its last one, which costs a binary search rather than a pass over
every payment of the run."""

from __future__ import annotations

from bisect import bisect_left

from pegkeeper.sim.events import FundingPayment

Bill = tuple[str, FundingPayment]  # the bill id, and the payment


class FundingBills:
    def __init__(self) -> None:
        self._bills: dict[str, list[Bill]] = {}
        self._times: dict[str, list[int]] = {}  # each bill's ts_ms, in the same order
        self._in_time_order: dict[str, bool] = {}

    def add(self, bill_id: str, payment: FundingPayment) -> None:
        currency = payment.currency
        times = self._times.setdefault(currency, [])
        if times and payment.ts_ms < times[-1]:  # an instrument priced late settles late
            self._in_time_order[currency] = False
        times.append(payment.ts_ms)
        self._bills.setdefault(currency, []).append((bill_id, payment))

    def since(self, currency: str, since_ms: int | None) -> list[Bill]:
        """The bills in `currency` paid at `since_ms` or later (all: None), oldest first."""
        bills = self._bills.get(currency)
        if bills is None:
            return []
        if since_ms is None:
            return list(bills)
        if not self._in_time_order.get(currency, True):
            return [bill for bill in bills if bill[1].ts_ms >= since_ms]
        return bills[bisect_left(self._times[currency], since_ms) :]

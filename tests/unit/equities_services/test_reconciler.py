"""The ledger's reconciler: breaks counted per scope, one alert while they last."""

import dataclasses
from decimal import Decimal

from pegkeeper.domain.collateral import AlertKind, Severity
from pegkeeper.domain.equities.ledger import Allocation, LedgerSnapshot
from tests.unit.equities_services.world import make_world

D = Decimal


async def test_a_whole_ledger_has_no_break_in_any_scope() -> None:
    w = make_world()
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="100"))
    await w.step()
    assert await w.reconciler.check() == []
    figures = w.reconciler.figures()
    assert figures.breaks_by_scope == {"order": 0, "fill": 0, "symbol": 0}
    assert (figures.checks, figures.last_check_ms) == (1, w.clock.now_ms())


async def test_a_break_is_alerted_once_while_it_lasts_and_resolved_when_it_clears() -> None:
    w = make_world()
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="100"))
    await w.step()
    assert w.memory is not None
    whole = w.memory.ledger_snapshot
    (order,) = w.broker.sent
    (fill,) = await w.repo.fills_of("AAPL", 1)
    # a second allocation of the broker fill to the same onchain fill: 2 shares allocated of
    # a 1-share order, of its 1-share fill and of the 1-share onchain fill (the symbol's
    # remainders still sum to its net: both sides are over-covered alike)
    extra = Allocation(order.client_order_id, "dry-1-1", fill.fill.fill_id, D(1))

    async def broken() -> LedgerSnapshot:
        snapshot = await whole()
        return dataclasses.replace(snapshot, allocations=(*snapshot.allocations, extra))

    w.memory.ledger_snapshot = broken  # type: ignore[method-assign]
    breaks = await w.reconciler.check()
    assert {(b.scope, b.key) for b in breaks} == {
        ("order", order.client_order_id),
        ("fill", f"{order.client_order_id}/dry-1-1"),
        ("fill", fill.fill.fill_id),
    }
    assert w.reconciler.figures().breaks_by_scope == {"order": 1, "fill": 2, "symbol": 0}
    w.clock.advance(60)
    await w.reconciler.check()
    (alert,) = w.alerts(AlertKind.EQUITY_LEDGER_BREAK)
    assert alert.severity is Severity.CRITICAL and alert.details == {
        "order": "1",
        "fill": "2",
        "symbol": "0",
    }
    w.memory.ledger_snapshot = whole  # type: ignore[method-assign]
    assert await w.reconciler.check() == []
    resolved = w.alerts(AlertKind.EQUITY_LEDGER_BREAK)[-1]
    assert resolved.severity is Severity.RESOLVED
    assert w.reconciler.figures().broken_since_ms is None

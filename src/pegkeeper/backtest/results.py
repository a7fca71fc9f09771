"""A finished run's numbers: the series, the tracking statistics and every cost."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.backtest.metrics import (
    COST_COMPONENTS,
    PolicyMetrics,
    Recorder,
    Series,
    cost_bps_per_year,
    tracking_stats,
)
from pegkeeper.backtest.prices import PricePath
from pegkeeper.backtest.settings import BacktestSettings
from pegkeeper.backtest.store import MemoryHedgeRepository
from pegkeeper.domain.instruments import ContractType, Instrument
from pegkeeper.domain.orders import OrderKind, OrderSide, OrderState
from pegkeeper.sim.engine import SimEngine

FillMark = tuple[str, OrderSide, Decimal, float]  # client order id, side, size, booked price


@dataclass(frozen=True, slots=True)
class PolicyResult:
    metrics: PolicyMetrics
    series: Series
    acted_rules: dict[str, int]  # the policy's rules that sent orders, and how often


@dataclass(frozen=True, slots=True)
class FinishedRun:
    policy: str
    instrument: Instrument
    path: PricePath
    settings: BacktestSettings
    engine: SimEngine
    trail: MemoryHedgeRepository
    recorder: Recorder
    fills: tuple[FillMark, ...]
    orders_at_start: int  # the orders that opened the hedge, not counted
    transfers_at_start: int  # and the collateral moves of the startup cycle, not counted
    withdrawals_at_start: int
    deposits_at_start: int
    liquidations: int
    opening_cost_usd: float
    events: int
    elapsed_s: float


def summarize(run: FinishedRun) -> PolicyResult:
    _book_collateral_costs(run)
    recorder = run.recorder
    series = recorder.series()
    stats = tracking_stats(series, run.settings.brackets)
    totals = {c: recorder.cost_total(c) for c in COST_COMPONENTS}
    total = sum(totals.values())
    orders = list(run.trail.orders.values())[run.orders_at_start :]
    span_ms = run.path.end_ms - run.path.start_ms
    metrics = PolicyMetrics(
        policy=run.policy,
        tracking_error_max_usd=stats.max_usd,
        tracking_error_rms_usd=stats.rms_usd,
        tracking_error_final_usd=stats.final_usd,
        tracking_error_max_pct=stats.max_pct,
        tracking_error_rms_pct=stats.rms_pct,
        time_outside_brackets_pct=stats.outside_pct,
        orders=len(orders),
        orders_rejected=sum(o.state is OrderState.REJECTED for o in orders),
        post_only_orders=sum(o.intent.kind is OrderKind.POST_ONLY for o in orders),
        transfers=_collateral_moves(run),
        fees_usd=totals["fees"],
        funding_usd=totals["funding"],
        slippage_usd=totals["slippage"],
        transfer_fees_usd=totals["transfers"],
        basis_usd=totals["basis"],
        latency_usd=_latency_usd(run),
        total_cost_usd=total,
        average_liability_usd=stats.average_liability_usd,
        cost_bps_per_year=cost_bps_per_year(total, stats.average_liability_usd, span_ms),
        min_liquidation_distance_pct=stats.min_distance_pct,
        max_leverage=stats.max_leverage,
        liquidated=run.liquidations > 0,
        liquidations=run.liquidations,
        opening_cost_usd=run.opening_cost_usd,
        events=run.events,
        events_per_second=run.events / run.elapsed_s if run.elapsed_s > 0 else 0.0,
    )
    return PolicyResult(metrics, series, _acted_rules(run))


def _book_collateral_costs(run: FinishedRun) -> None:
    """Transfer fees (per transfer, when set) and withdrawal fees, in USD at their time."""
    inverse = run.instrument.contract_type is ContractType.INVERSE
    fee = run.settings.costs.transfer_fee
    for transfer in run.engine.transfers[run.transfers_at_start :]:
        if fee > 0:
            price = float(run.path.price_at(transfer.ts_ms)) if inverse else 1.0
            run.recorder.cost(transfer.ts_ms, "transfers", float(fee) * price)
    for withdrawal in run.engine.wallet.withdrawals()[run.withdrawals_at_start :]:
        price = float(run.path.price_at(withdrawal.ts_ms)) if inverse else 1.0
        run.recorder.cost(withdrawal.ts_ms, "transfers", float(withdrawal.fee) * price)


def _collateral_moves(run: FinishedRun) -> int:
    wallet = run.engine.wallet
    moved = len(run.engine.transfers) - run.transfers_at_start
    deposits = len(wallet.deposits()) - run.deposits_at_start
    return moved + deposits + len(wallet.withdrawals()) - run.withdrawals_at_start


def _latency_usd(run: FinishedRun) -> float:
    """What the mark moved against each fill between its decision and the fill."""
    decided = {d.decision_id: float(d.btc_price_usd) for d in run.trail.decisions}
    total = 0.0
    for client_order_id, side, size, booked in run.fills:
        record = run.trail.orders.get(client_order_id)
        if record is None:
            continue
        decision_mark = decided.get(record.intent.decision_id, booked)
        sign = 1.0 if side is OrderSide.SELL else -1.0
        usd = float(run.instrument.notional_usd(size, Decimal(repr(booked))))
        total += sign * usd * (decision_mark - booked) / decision_mark
    return total


def _acted_rules(run: FinishedRun) -> dict[str, int]:
    orders = list(run.trail.orders.values())[run.orders_at_start :]
    acted = {o.intent.decision_id for o in orders}
    rules: dict[str, int] = {}
    for decision in run.trail.decisions:
        if decision.decision_id in acted:
            rules[decision.rule] = rules.get(decision.rule, 0) + 1
    return rules

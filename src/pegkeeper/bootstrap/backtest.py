"""`pegkeeper backtest`: its inputs read and checked, its settings from `[backtest]` and
`[hedger]`, and the policies (or setups) run one after the other on the same inputs."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from pegkeeper.backtest.basis import BasisModel
from pegkeeper.backtest.carry_run import CarryRun
from pegkeeper.backtest.costs import BookModel, CostModel
from pegkeeper.backtest.flows import (
    Flows,
    FlowSpecError,
    generate_flows,
    load_flow_file,
    parse_flow_spec,
)
from pegkeeper.backtest.funding_rates import (
    FundingFileError,
    FundingSchedule,
    load_funding,
)
from pegkeeper.backtest.funding_step import CollateralSettings
from pegkeeper.backtest.metrics import Brackets
from pegkeeper.backtest.prices import PriceFileError, PricePath, load_prices
from pegkeeper.backtest.runner import (
    BacktestInputs,
    BacktestSettings,
    PolicyResult,
    PolicyRun,
)
from pegkeeper.backtest.service_funding import (
    ChainSettings,
    ServiceFundingSettings,
    service_funding,
)
from pegkeeper.backtest.sweep import CellOutcome, SweepCell
from pegkeeper.backtest.venue_funding import load_venue_funding
from pegkeeper.bootstrap.collateral import (
    alert_settings,
    allocation_of,
    funding_policy,
    funding_settings,
)
from pegkeeper.bootstrap.policies import hedge_policy
from pegkeeper.config import Settings
from pegkeeper.domain.allocation import ROLLING_QUARTERLY
from pegkeeper.domain.collateral_policy import CollateralPolicy
from pegkeeper.domain.instruments import collateral_currency
from pegkeeper.domain.venue import PRIMARY_VENUE
from pegkeeper.services.hedging.hedger import HedgerSettings


class BacktestInputError(ValueError):
    """An input file or option that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    prices: Path
    funding: Path | None = None
    flows: str | None = None  # None: `[backtest] flows`
    fill_gaps: bool = False
    volume_unit: str | None = None  # None: `[backtest.book] volume_unit`
    liability_usd: Decimal | None = None  # None: `[backtest] initial_liability_usd`
    funding_venue: str | None = None  # a funding file of several venues: which one


def backtest_settings(settings: Settings, request: BacktestRequest) -> BacktestSettings:
    b, h = settings.backtest, settings.hedger
    book = b.book.model_dump()
    if request.volume_unit is not None:
        book["volume_unit"] = request.volume_unit
    return BacktestSettings(
        instrument_id=b.instrument_id,
        initial_liability_usd=(
            b.initial_liability_usd if request.liability_usd is None else request.liability_usd
        ),
        exchange_leverage=b.exchange_leverage,
        maintenance_margin_rate=b.maintenance_margin_rate,
        costs=CostModel(
            taker_fee_rate=b.taker_fee_rate,
            maker_fee_rate=b.maker_fee_rate,
            latency_ms=b.latency_ms,
            transfer_fee=b.transfer_fee,
            withdrawal_fee_btc=b.withdrawal_fee_btc,
            withdrawal_fee_usdt=b.withdrawal_fee_usdt,
            deposit_minutes=b.deposit_minutes,
            book=BookModel(**book),
        ),
        collateral=opening_collateral(settings),  # at the start
        hedger=HedgerSettings(
            instrument_id=b.instrument_id,
            check_interval_seconds=h.check_interval_seconds,
            order_lookup_window_seconds=h.order_lookup_window_seconds,
            snapshot_interval_seconds=h.snapshot_interval_seconds,
            limit_order_timeout_seconds=h.limit_order_timeout_seconds,
            wait_for_collateral=True,  # as in production, beside the funding manager
            roll_lead_seconds=settings.allocation.roll_lead_hours * 3600,
            venue_leverage=Decimal(b.exchange_leverage),  # the margin its orders need
        ),
        brackets=Brackets(
            low=float(b.bracket_low),
            high=float(b.bracket_high),
            minimum_liability_usd=h.stablesats.minimum_liability_threshold_cents / 100,
        ),
        max_abs_delta_cents=settings.liability.max_abs_delta_cents,
        funding_check_interval_seconds=b.funding_check_interval_seconds,
        **_legs(settings),
    )


def _legs(settings: Settings) -> dict[str, Any]:
    """The allocation's legs, when `[allocation] legs` has more than the perpetual: a rolling
    quarterly priced by `[backtest.basis]`, its weights moved by `[allocation.carry]`."""
    legs = settings.allocation.legs
    if not legs:
        return {}
    allowed = {settings.backtest.instrument_id, ROLLING_QUARTERLY}
    for leg in legs:
        if leg.venue != PRIMARY_VENUE:
            raise BacktestInputError(
                f"[allocation] leg {leg.instrument_id} is on venue {leg.venue!r}; the backtest "
                "runs one simulated venue: put every leg on the primary one"
            )
        if leg.instrument_id not in allowed:
            raise BacktestInputError(
                f"[allocation] leg {leg.instrument_id} cannot be backtested; expected "
                f"{' or '.join(sorted(allowed))}"
            )
    lead_hours = settings.allocation.roll_lead_hours
    carry = settings.allocation.carry
    return {
        "allocation": allocation_of(settings),
        "basis": BasisModel(settings.backtest.basis),
        "carry_factory": (
            partial(CarryRun, settings=carry, roll_lead_hours=lead_hours) if carry.enabled else None
        ),
    }


def backtest_funding(settings: Settings) -> ServiceFundingSettings:
    """The production funding manager's settings (`[funding]`, `[alerts]`) for the backtest's
    instrument, with a simulated wallet holding `[backtest] wallet_btc` (its blocks and fees
    as `[funding.wallet]` sets them)."""
    currency = collateral_currency(settings.backtest.instrument_id)
    wallet = settings.funding.wallet
    return ServiceFundingSettings(
        policy=backtest_funding_policy(settings),
        service=funding_settings(settings, currency, settings.funding.lookup_window_seconds),
        alerts=alert_settings(settings),
        chain=ChainSettings(
            balance_btc=settings.backtest.wallet_btc,
            block_interval_seconds=wallet.sim_block_interval_seconds,
            min_fee_rate_sat_vb=wallet.sim_min_fee_rate_sat_vb,
        ),
    )


def backtest_funding_policy(settings: Settings) -> CollateralPolicy:
    """`[funding] policy` on the backtest's instrument, at `[backtest] exchange_leverage`."""
    b = settings.backtest
    currency = collateral_currency(b.instrument_id)
    return funding_policy(settings, currency, Decimal(b.exchange_leverage))


def opening_collateral(settings: Settings) -> CollateralSettings:
    """`[backtest.collateral]`: what the funding policy wants at the start when it says and
    `from_policy` is set, else the set leverage and reserve share."""
    c = settings.backtest.collateral
    wanted = (
        CollateralSettings.wanted_by(backtest_funding_policy(settings)) if c.from_policy else None
    )
    return wanted or CollateralSettings(c.target_leverage, c.funding_reserve_share)


def load_inputs(
    request: BacktestRequest, settings: Settings, backtest: BacktestSettings
) -> BacktestInputs:
    """Reads and checks every input; BacktestInputError names what cannot be used."""
    try:
        path = load_prices(request.prices, fill_gaps=request.fill_gaps)
        funding = _funding(request.funding, settings, path, request.funding_venue)
        flows = _flows(request.flows or settings.backtest.flows, path, backtest)
    except (PriceFileError, FundingFileError, FlowSpecError) as error:
        raise BacktestInputError(str(error)) from None
    return BacktestInputs(path, flows, funding)


def _funding(
    file: Path | None, settings: Settings, path: PricePath, venue: str | None
) -> FundingSchedule:
    if file is None:
        return FundingSchedule.constant_rate(settings.backtest.funding_rate)
    # one venue of a file of several (btcusdt-funding-6venues-utc.csv), or Deribit's hourly
    schedule = load_funding(file) if venue is None else load_venue_funding(file, venue).schedule()
    schedule.check_covers(path.start_ms, path.end_ms)
    return schedule


def _flows(spec: str, path: PricePath, backtest: BacktestSettings) -> Flows:
    initial_cents = int(backtest.initial_liability_usd * 100)
    parsed = parse_flow_spec(spec)
    if parsed is None:
        return Flows("none", (), ())
    if isinstance(parsed, Path):
        return load_flow_file(
            parsed, path.start_ms, path.end_ms, initial_cents, backtest.max_abs_delta_cents
        )
    return generate_flows(parsed, path, initial_cents, backtest.max_abs_delta_cents)


async def run_policies(
    names: Sequence[str],
    settings: Settings,
    inputs: BacktestInputs,
    backtest: BacktestSettings,
    progress: Callable[[str, int], None] | None = None,
) -> list[PolicyResult]:
    """Each policy over the same inputs, one after the other; raises UnknownPolicy first."""
    policies = [hedge_policy(settings, name) for name in names]
    funding = service_funding(backtest_funding(settings))
    results = []
    for policy in policies:
        run = PolicyRun(policy, inputs, backtest, funding)
        report = None if progress is None else _named(progress, policy.name)
        results.append(await run.run(report))
    return results


def _named(progress: Callable[[str, int], None], name: str) -> Callable[[int], None]:
    def report(ticks: int) -> None:
        progress(name, ticks)

    return report


@dataclass(frozen=True, slots=True)
class PreparedRun:
    """One run of a backtest, named (a setup or a policy), with its own settings."""

    name: str
    settings: Settings
    backtest: BacktestSettings
    inputs: BacktestInputs


INPUTS_KEPT = 8  # a sweep's worker runs every setup of a path and seed, then moves on
_inputs: OrderedDict[Hashable, BacktestInputs] = OrderedDict()


def prepare_runs(
    named: Sequence[tuple[str, Settings]], request: BacktestRequest
) -> list[PreparedRun]:
    """Each run's settings and inputs, read and checked before anything runs; the inputs read
    once for the runs (and, in this process, the later calls) that read them alike."""
    runs = []
    for name, settings in named:
        backtest = backtest_settings(settings, request)
        inputs = _cached_inputs(request, settings, backtest)
        runs.append(PreparedRun(name, settings, backtest, inputs))
    return runs


def _cached_inputs(
    request: BacktestRequest, settings: Settings, backtest: BacktestSettings
) -> BacktestInputs:
    # every setting that load_inputs reads is in these two sections
    key = (request, settings.backtest.model_dump_json(), settings.liability.model_dump_json())
    inputs = _inputs.get(key)
    if inputs is None:
        inputs = load_inputs(request, settings, backtest)
        _inputs[key] = inputs
        while len(_inputs) > INPUTS_KEPT:
            _inputs.popitem(last=False)
    _inputs.move_to_end(key)
    return inputs


async def run_prepared(
    runs: Sequence[PreparedRun], progress: Callable[[str, int], None] | None = None
) -> list[PolicyResult]:
    """Each run in turn, its progress reported under its name."""
    results = []
    for run in runs:
        report = None if progress is None else _renamed(progress, run.name)
        s = run.settings
        results += await run_policies([s.hedger.policy], s, run.inputs, run.backtest, report)
    return results


def _renamed(progress: Callable[[str, int], None], name: str) -> Callable[[str, int], None]:
    def report(_policy: str, ticks: int) -> None:
        progress(name, ticks)

    return report


def run_cell(cell: SweepCell) -> CellOutcome:
    """One cell of a sweep, in whatever process runs it: its numbers, or why it could not run."""
    path = cell.path
    request = BacktestRequest(
        path.prices,
        path.funding,
        cell.flows,
        path.fill_gaps,
        path.volume_unit,
        funding_venue=path.funding_venue,
    )
    try:
        runs = prepare_runs([(cell.setup, cell.settings)], request)
        [result] = asyncio.run(run_prepared(runs))
    except (BacktestInputError, ValueError) as error:
        return CellOutcome(cell.index, None, str(error))
    return CellOutcome(cell.index, result.metrics.as_dict())


def quiet_worker_logging() -> None:
    """A sweep's worker process logs errors only, as `pegkeeper backtest` does: a backtest's
    warnings are in its numbers, and the workers share the command's terminal."""
    from pegkeeper.bootstrap.logging_setup import configure_logging

    configure_logging("error", json_format=False)

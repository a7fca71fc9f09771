"""`pegkeeper backtest`: its inputs read and checked, its settings from `[backtest]` and
`[hedger]`, and the policies run one after the other on the same inputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

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
from pegkeeper.bootstrap.collateral import alert_settings, funding_policy, funding_settings
from pegkeeper.bootstrap.policies import hedge_policy
from pegkeeper.config import Settings
from pegkeeper.domain.collateral_policy import CollateralPolicy
from pegkeeper.domain.instruments import collateral_currency
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
            venue_leverage=Decimal(b.exchange_leverage),  # the margin its orders need
        ),
        brackets=Brackets(
            low=float(b.bracket_low),
            high=float(b.bracket_high),
            minimum_liability_usd=h.stablesats.minimum_liability_threshold_cents / 100,
        ),
        max_abs_delta_cents=settings.liability.max_abs_delta_cents,
        funding_check_interval_seconds=b.funding_check_interval_seconds,
    )


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
        funding = _funding(request.funding, settings, path)
        flows = _flows(request.flows or settings.backtest.flows, path, backtest)
    except (PriceFileError, FundingFileError, FlowSpecError) as error:
        raise BacktestInputError(str(error)) from None
    return BacktestInputs(path, flows, funding)


def _funding(file: Path | None, settings: Settings, path: PricePath) -> FundingSchedule:
    if file is None:
        return FundingSchedule.constant_rate(settings.backtest.funding_rate)
    schedule = load_funding(file)
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

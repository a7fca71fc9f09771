"""Two venues, two collateral accounts: each venue's funding manager decides on its own legs'
share of the liability and moves money in and out of its own account only, its alerts named
after it, while both share one store, one wallet and one alert channel."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.adapters.wallet.sim import SimWallet
from pegkeeper.api.http.funding import funding_status
from pegkeeper.cli import _account_table, _operations_table
from pegkeeper.domain.allocation import Allocation, HedgeLeg
from pegkeeper.domain.collateral import AlertKind, OperationKind, OperationState
from pegkeeper.domain.collateral_policy import StablesatsCollateralPolicy
from pegkeeper.domain.instruments import BTC_USD_SWAP, ContractType, Instrument, InstrumentKind
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.collateral.manager import CollateralManager, CollateralSettings
from pegkeeper.services.collateral.operations import OperationSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.views.collateral import CollateralView
from pegkeeper.sim.chain import SimChain
from pegkeeper.sim.engine import SimEngine
from tests.fakes import FakeStore, RecordingSink

START_MS = 1_700_006_400_000
PRICE = Decimal(10_000)
BINANCE_PERP = Instrument(
    "BTC/USD:BTC", InstrumentKind.SWAP, ContractType.INVERSE, Decimal(100), "BTC"
)
ALLOCATION = Allocation(
    (
        HedgeLeg("BTC-USD-SWAP", Decimal(2)),
        HedgeLeg("BTC/USD:BTC", Decimal(1), venue="binance"),
    )
)


def _engine(instrument: Instrument, funding_btc: str) -> SimEngine:
    engine = SimEngine([instrument], taker_fee_rate=Decimal(0), leverage=10)
    engine.set_price(START_MS, PRICE)
    if Decimal(funding_btc):
        engine.credit_funding(Decimal(funding_btc))
    return engine


class TwoVenues:
    def __init__(self, funding_btc: str, wallet: bool = True) -> None:
        self.clock = ManualClock(START_MS)
        self.store, self.sink, bus = FakeStore(), RecordingSink(), MemoryBus()
        self.engines = {
            "primary": _engine(BTC_USD_SWAP, funding_btc),
            "binance": _engine(BINANCE_PERP, funding_btc),
        }
        self.engines["binance"].wallet.address_tag = "binance"
        self.chain = SimChain(START_MS, 1_000_000_000)
        self.wallet = SimWallet(self.chain, self.clock, self.engines["primary"].wallet)
        self.wallet.pay_into(self.engines["binance"].wallet)
        alerter = Alerter(self.sink, self.store.funding, self.clock, AlertSettings())
        self.managers = {
            name: CollateralManager(
                self.store,
                SimVenue(engine, self.clock, name=name),
                SimFunding(engine, self.clock),
                self.wallet if wallet else None,
                bus,
                self.clock,
                StablesatsCollateralPolicy(),
                ALLOCATION,
                alerter.for_venue(name),
                CollateralSettings(venue_name=name, operations=OperationSettings()),
            )
            for name, engine in self.engines.items()
        }
        self.liability = LiabilityService(
            self.store.liability, bus, self.clock, max_abs_delta_cents=10**12
        )

    def balances(self, name: str) -> tuple[Decimal, Decimal]:
        b = self.engines[name].balances("BTC")
        return b.trading_equity, b.funding_balance

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        for engine in self.engines.values():
            engine.set_price(self.clock.now_ms(), PRICE)
        self.wallet.sync()


async def test_each_venue_funds_its_share_by_a_transfer_on_its_own_account() -> None:
    world = TwoVenues(funding_btc="1")
    await world.liability.post("u1", 3_000_000)  # 30 000 USD: 20 000 here, 10 000 on binance
    for manager in world.managers.values():
        decision = await manager.cycle("liability")
        assert decision is not None and decision.rule.startswith("2")
    # stablesats rule 2: funding -> trading min(F, L_btc / 3) at 10 000 USD per BTC, to the sat:
    # 20 000 USD = 2 BTC -> 0.66666667; 10 000 USD = 1 BTC -> 0.33333333
    assert world.balances("primary") == (Decimal("0.66666667"), Decimal("0.33333333"))
    assert world.balances("binance") == (Decimal("0.33333333"), Decimal("0.66666667"))
    operations = sorted(
        (r.operation.venue, r.operation.kind, r.operation.amount, r.state)
        for r in await world.store.funding.recent_operations(10)
    )
    done, transfer = OperationState.DONE, OperationKind.TRANSFER_TO_TRADING
    assert operations == [
        ("binance", transfer, Decimal("0.33333333"), done),
        ("primary", transfer, Decimal("0.66666667"), done),
    ]
    decisions = await world.store.funding.recent_decisions(10)
    assert sorted((d.venue, d.liability_cents) for d in decisions) == [
        ("binance", 1_000_000),
        ("primary", 2_000_000),
    ]


async def test_deposits_travel_side_by_side_each_to_its_own_venue_s_address() -> None:
    world = TwoVenues(funding_btc="0")
    await world.liability.post("u1", 3_000_000)
    for manager in world.managers.values():
        await manager.cycle("liability")
    deposits = {r.operation.venue: r.operation for r in await world.store.funding.open_operations()}
    assert set(deposits) == {"primary", "binance"}
    primary_address = world.engines["primary"].wallet.address("BTC")
    binance_address = world.engines["binance"].wallet.address("BTC")
    assert primary_address != binance_address
    assert (deposits["primary"].address, deposits["binance"].address) == (
        primary_address,
        binance_address,
    )
    # rule 1: L_btc / 3 plus the refill of the funding account to 1 BTC, and 1 to 1 000 sats
    # of jitter: 0.66666667 + 1 and 0.33333333 + 1
    jitter = {
        name: d.amount - base
        for (name, d), base in zip(
            sorted(deposits.items()), [Decimal("1.33333333"), Decimal("1.66666667")], strict=True
        )
    }
    assert all(Decimal("0.00000001") <= j <= Decimal("0.00001") for j in jitter.values())
    # one block confirms both sends; each exchange credits its own deposit only
    world.advance(3_600)
    for manager in world.managers.values():
        await manager.cycle("periodic")
    # (and moves on to its rule 2 transfer into the trading account: the sum is the deposit)
    assert sum(world.balances("primary")) == deposits["primary"].amount
    assert sum(world.balances("binance")) == deposits["binance"].amount
    states = {r.operation.venue: r.state for r in await world.store.funding.recent_operations(10)}
    assert states == {"primary": OperationState.DONE, "binance": OperationState.DONE}


async def test_a_venue_s_alerts_name_it_and_its_conditions_are_its_own() -> None:
    world = TwoVenues(funding_btc="0", wallet=False)
    await world.liability.post("u1", 3_000_000)
    for manager in world.managers.values():
        decision = await manager.cycle("liability")
        assert decision is not None and decision.outcome.startswith("cannot: no onchain wallet")
    refused = world.managers["primary"].alerter.sent  # the one channel both raise on
    assert [(a.kind, a.title, a.details["venue"]) for a in refused] == [
        (AlertKind.FUNDING_REFUSED, "primary: deposit of BTC cannot be done", "primary"),
        (AlertKind.FUNDING_REFUSED, "binance: deposit of BTC cannot be done", "binance"),
    ]


async def test_the_funding_view_has_one_account_per_venue_and_names_each_move() -> None:
    world = TwoVenues(funding_btc="1")
    await world.liability.post("u1", 3_000_000)
    for manager in world.managers.values():
        await manager.cycle("liability")
    view = CollateralView(world.store, list(world.managers.values()), world.wallet)
    body = funding_status(await view.status())
    accounts = [
        (
            a["venue"],
            a["currency"],
            a["live"]["liability_cents"],
            a["last_snapshot"]["mark_price_usd"],
        )
        for a in body["accounts"]
    ]
    assert accounts == [
        ("primary", "BTC", 2_000_000, "10000"),
        ("binance", "BTC", 1_000_000, "10000"),
    ]
    assert sorted((o["venue"], o["amount"]) for o in body["operations"]) == [
        ("binance", "0.33333333"),
        ("primary", "0.66666667"),
    ]
    assert {d["venue"] for d in body["decisions"]} == {"primary", "binance"}
    console = Console(record=True, width=120)
    for account in body["accounts"]:
        console.print(_account_table(account, body))
    console.print(_operations_table(body["operations"]))
    text = console.export_text()
    assert "funding: primary BTC account (stablesats)" in text
    assert "funding: binance BTC account (stablesats)" in text
    rows = [line.split("│")[1:3] for line in text.splitlines() if "transfer_to_trading" in line]
    assert sorted([c.strip() for c in row] for row in rows) == [
        ["binance", "transfer_to_trading"],
        ["primary", "transfer_to_trading"],
    ]

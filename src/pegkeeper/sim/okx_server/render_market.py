"""Market data in OKX v5's shapes: instruments, tickers, books, mark price, funding rate and
its history, currencies. Field sets follow the recorded payloads in shared/data/okx/nautilus."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.instruments import ContractType, Instrument, InstrumentKind
from pegkeeper.sim.book import BookLevel
from pegkeeper.sim.okx_server.context import MarketView, SimContext
from pegkeeper.sim.okx_server.envelope import Json, text
from pegkeeper.sim.wallet import CHAINS, MIN_WITHDRAWAL_FEE

LIST_TIME_MS = 1_535_424_203_000
INST_ID_CODES = {"BTC-USD-SWAP": 10458, "BTC-USDT-SWAP": 10459}
MAX_LEVERAGE = {InstrumentKind.SWAP: "100", InstrumentKind.FUTURE: "20"}
BOOK_LEVELS_SHOWN = 5


def inst_type(instrument: Instrument) -> str:
    return "SWAP" if instrument.kind is InstrumentKind.SWAP else "FUTURES"


def underlying(instrument: Instrument) -> str:
    quote = "USD" if instrument.contract_type is ContractType.INVERSE else "USDT"
    return f"BTC-{quote}"


def instrument_json(instrument: Instrument, alias: str = "") -> Json:
    inverse = instrument.contract_type is ContractType.INVERSE
    return {
        "alias": alias,
        "auctionEndTime": "",
        "baseCcy": "",
        "category": "1",
        "contTdSwTime": "",
        "ctMult": "1",
        "ctType": instrument.contract_type.value,
        "ctVal": text(instrument.contract_value),
        "ctValCcy": "USD" if inverse else "BTC",
        "expTime": text(instrument.expiry_ms),
        "futureSettlement": False,
        "instFamily": underlying(instrument),
        "instId": instrument.instrument_id,
        "instIdCode": INST_ID_CODES.get(instrument.instrument_id, _code(instrument)),
        "instType": inst_type(instrument),
        "lever": MAX_LEVERAGE[instrument.kind],
        "listTime": str(LIST_TIME_MS),
        "lotSz": text(instrument.lot_size_contracts),
        "maxIcebergSz": "100000000.0000000000000000",
        "maxLmtAmt": "20000000",
        "maxLmtSz": "100000000",
        "maxMktAmt": "",
        "maxMktSz": "30000" if inverse else "12000",
        "maxPlatOILmt": "",
        "maxStopSz": "30000" if inverse else "12000",
        "maxTriggerSz": "100000000.0000000000000000",
        "maxTwapSz": "100000000.0000000000000000",
        "minSz": text(instrument.min_size_contracts),
        "openType": "",
        "optType": "",
        "posLmtAmt": "",
        "posLmtPct": "",
        "preMktSwTime": "",
        "quoteCcy": "",
        "ruleType": "normal",
        "settleCcy": instrument.settle_currency,
        "state": "live",
        "stk": "",
        "tickSz": text(instrument.tick_size_usd),
        "tradeQuoteCcyList": [],
        "uly": underlying(instrument),
    }


def instruments_json(ctx: SimContext, wanted_type: str) -> list[Json]:
    engine = ctx.engine
    live = [engine.instrument(i) for i in engine.live_instrument_ids]
    chosen = [i for i in live if inst_type(i) == wanted_type]
    futures = [i for i in chosen if i.kind is InstrumentKind.FUTURE]
    aliases = dict(
        zip((f.instrument_id for f in futures), ("quarter", "next_quarter"), strict=False)
    )
    return [instrument_json(i, aliases.get(i.instrument_id, "")) for i in chosen]


def ticker_json(ctx: SimContext, inst_id: str) -> Json:
    view = ctx.market(inst_id)
    instrument = ctx.engine.instrument(inst_id)
    best_ask, best_bid = view.book.asks()[0], view.book.bids()[0]
    last = text(view.price_usd)
    return {
        "instType": inst_type(instrument),
        "instId": inst_id,
        "last": last,
        "lastSz": "1",
        "askPx": text(best_ask.price_usd),
        "askSz": text(best_ask.size_contracts),
        "bidPx": text(best_bid.price_usd),
        "bidSz": text(best_bid.size_contracts),
        "open24h": last,
        "high24h": last,
        "low24h": last,
        "volCcy24h": "0",
        "vol24h": "0",
        "sodUtc0": last,
        "sodUtc8": last,
        "ts": str(view.ts_ms),
    }


def mark_price_json(ctx: SimContext, inst_id: str) -> Json:
    view = ctx.market(inst_id)
    instrument = ctx.engine.instrument(inst_id)
    return {
        "instType": inst_type(instrument),
        "instId": inst_id,
        "markPx": text(view.price_usd),
        "ts": str(view.ts_ms),
    }


def funding_rate_json(ctx: SimContext, inst_id: str) -> Json:
    engine = ctx.engine
    rate = text(engine.funding_rate(inst_id))
    next_ms = engine.next_funding_ms(inst_id) or 0
    interval_ms = 8 * 3_600_000
    return {
        "formulaType": "noRate",
        "fundingRate": rate,
        "fundingTime": str(next_ms),
        "impactValue": "",
        "instId": inst_id,
        "instType": "SWAP",
        "interestRate": "0",
        "maxFundingRate": "0.00375",
        "method": "current_period",
        "minFundingRate": "-0.00375",
        "nextFundingRate": "",
        "nextFundingTime": str(next_ms + interval_ms),
        "premium": "0",
        "settFundingRate": rate,
        "settState": "settled",
        "ts": str(ctx.market(inst_id).ts_ms),
    }


def settled_funding_json(inst_id: str, funding_time_ms: int, rate: Decimal) -> Json:
    """A row of GET /public/funding-rate-history: the simulator charges the rate it publishes,
    so the realized rate is the funding rate."""
    return {
        "formulaType": "noRate",
        "fundingRate": text(rate),
        "fundingTime": str(funding_time_ms),
        "instId": inst_id,
        "instType": "SWAP",
        "method": "current_period",
        "realizedRate": text(rate),
    }


def book_json(view: MarketView, depth: int = BOOK_LEVELS_SHOWN) -> Json:
    return {
        "asks": [_level(level) for level in view.book.asks()[:depth]],
        "bids": [_level(level) for level in view.book.bids()[:depth]],
        "ts": str(view.ts_ms),
    }


def currencies_json() -> list[Json]:
    return [
        {
            "canDep": True,
            "canInternal": True,
            "canWd": True,
            "ccy": currency,
            "chain": chain,
            "depQuotaFixed": "",
            "depQuoteDailyLayer2": "",
            "logoLink": "",
            "mainNet": True,
            "maxFee": text(MIN_WITHDRAWAL_FEE[currency] * 2),
            "maxFeeForCtAddr": "",
            "maxWd": "1000000",
            "minDep": "0.00005" if currency == "BTC" else "1",
            "minDepArrivalConfirm": "1",
            "minFee": text(MIN_WITHDRAWAL_FEE[currency]),
            "minFeeForCtAddr": "",
            "minWd": "0.0005" if currency == "BTC" else "2",
            "minWdUnlockConfirm": "2",
            "name": "Bitcoin" if currency == "BTC" else "Tether",
            "needTag": False,
            "usedDepQuotaFixed": "",
            "usedWdQuota": "0",
            "wdQuota": "10000000",
            "wdTickSz": "8",
        }
        for currency, chain in CHAINS.items()
    ]


def _level(level: BookLevel) -> list[str]:
    return [text(level.price_usd), text(level.size_contracts), "0", "1"]


def _code(instrument: Instrument) -> int:
    return 20000 + (instrument.expiry_ms or 0) // 86_400_000 % 10000

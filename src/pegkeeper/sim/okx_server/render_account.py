"""Account data in OKX v5's shapes: positions, balances, orders, transfers, deposits,
withdrawals, account configuration. Field sets follow shared/data/okx/nautilus."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.orders import Fill, OrderState
from pegkeeper.sim.accounts import CURRENCIES
from pegkeeper.sim.events import FundingPayment, TransferResult
from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.envelope import Json, text
from pegkeeper.sim.okx_server.render_market import inst_type
from pegkeeper.sim.orders import OrderType, SimOrder
from pegkeeper.sim.wallet import Deposit, Withdrawal

ZERO = Decimal(0)
ACCOUNT_IDS = {"funding": "6", "trading": "18"}
ORDER_STATES = {
    OrderState.ACCEPTED: "live",
    OrderState.PARTIALLY_FILLED: "partially_filled",
    OrderState.FILLED: "filled",
    OrderState.CANCELED: "canceled",
}


def position_json(ctx: SimContext, inst_id: str) -> Json:
    engine = ctx.engine
    position = engine.position(inst_id)
    instrument = engine.instrument(inst_id)
    currency = instrument.settle_currency
    initial, maintenance = engine.position_margins(inst_id)
    mark = text(position.mark_price_usd)
    upl = position.unrealised_pnl
    notional_usd = instrument.notional_usd(position.size_contracts, position.mark_price_usd)
    now = str(ctx.now_ms())
    changed = str(ctx.position_times_ms.get(inst_id, ctx.now_ms()))
    return {
        "adl": "1",
        "availPos": "",
        "avgPx": text(position.avg_price_usd),
        "baseBal": "",
        "bePx": text(position.avg_price_usd),
        "cTime": now,
        "ccy": currency,
        "closeOrderAlgo": [],
        "fee": "0",
        "fundingFee": "0",
        "idxPx": mark,
        "imr": text(initial),
        "instId": inst_id,
        "instType": inst_type(instrument),
        "interest": "",
        "last": mark,
        "lever": text(engine.leverage(inst_id)),
        "liqPenalty": "0",
        "liqPx": text(position.liquidation_price_usd),
        "markPx": mark,
        "margin": "",
        "mgnMode": "cross",
        "mgnRatio": _ratio(engine.balances(currency).trading_equity, maintenance),
        "mmr": text(maintenance),
        "notionalUsd": text(notional_usd),
        "optVal": "",
        "pendingCloseOrdLiabVal": "",
        "pnl": "0",
        "pos": text(position.size_contracts),
        "posCcy": "",
        "posId": str(1000 + engine.instrument_ids.index(inst_id)),
        "posSide": "net",
        "quoteBal": "",
        "quoteBorrowed": "",
        "quoteInterest": "",
        "realizedPnl": "0",
        "spotInUseAmt": "",
        "spotInUseCcy": "",
        "tradeId": ctx.last_trade_ids.get(inst_id, ""),
        "uTime": changed,
        "upl": text(upl),
        "uplLastPx": text(upl),
        "uplRatio": _ratio(upl, initial),
        "uplRatioLastPx": _ratio(upl, initial),
        "usdPx": mark if currency == "BTC" else "1",
    }


def positions_json(ctx: SimContext, inst_ids: list[str] | None) -> list[Json]:
    engine = ctx.engine
    chosen = engine.instrument_ids if inst_ids is None else tuple(inst_ids)
    return [
        position_json(ctx, inst_id)
        for inst_id in chosen
        if engine.mark_price_usd(inst_id) is not None
        and engine.position(inst_id).size_contracts != 0
    ]


def balance_detail_json(ctx: SimContext, currency: str) -> Json:
    engine = ctx.engine
    balances = engine.balances(currency)
    cash = engine.trading_cash(currency)
    initial, maintenance = engine.initial_margin(currency), engine.maintenance_margin(currency)
    equity = balances.trading_equity
    upl = equity - cash
    usd_price = _usd_price(ctx, currency)
    notional = sum(
        (
            engine.position_margins(i)[0] * engine.leverage(i)
            for i in engine.instrument_ids
            if engine.instrument(i).settle_currency == currency
        ),
        ZERO,
    )
    return {
        "accAvgPx": "",
        "availBal": text(max(ZERO, cash - initial)),
        "availEq": text(balances.trading_available),
        "borrowFroz": "",
        "cashBal": text(cash),
        "ccy": currency,
        "clSpotInUseAmt": "",
        "coinUsdPrice": text(usd_price),
        "colBorrAutoConversion": "0",
        "collateralEnabled": False,
        "collateralRestrict": False,
        "crossLiab": "",
        "disEq": text(equity * usd_price),
        "eq": text(equity),
        "eqUsd": text(equity * usd_price),
        "fixedBal": "0",
        "frozenBal": text(initial),
        "imr": text(initial),
        "interest": "",
        "isoEq": "0",
        "isoLiab": "",
        "isoUpl": "0",
        "liab": "",
        "maxLoan": "",
        "maxSpotInUseAmt": "",
        "mgnRatio": _ratio(equity, maintenance),
        "mmr": text(maintenance),
        "notionalLever": _ratio(notional, equity) or "0",
        "openAvgPx": "",
        "ordFrozen": "0",
        "rewardBal": "0",
        "smtSyncEq": "0",
        "spotBal": "",
        "spotCopyTradingEq": "0",
        "spotInUseAmt": "",
        "spotIsoBal": "0",
        "spotUpl": "",
        "spotUplRatio": "",
        "stgyEq": "0",
        "totalPnl": "",
        "totalPnlRatio": "",
        "twap": "0",
        "uTime": str(ctx.now_ms()),
        "upl": text(upl),
        "uplLiab": "",
    }


def balance_json(ctx: SimContext, currencies: list[str] | None) -> Json:
    chosen = list(CURRENCIES) if currencies is None else [c for c in currencies if c in CURRENCIES]
    details = [balance_detail_json(ctx, c) for c in chosen]
    total_usd = sum((Decimal(d["eqUsd"]) for d in details), ZERO)
    return {
        "adjEq": "",
        "availEq": "",
        "borrowFroz": "",
        "details": details,
        "imr": "",
        "isoEq": "0",
        "mgnRatio": "",
        "mmr": "",
        "notionalUsd": "",
        "notionalUsdForBorrow": "",
        "notionalUsdForFutures": "",
        "notionalUsdForOption": "",
        "notionalUsdForSwap": "",
        "ordFroz": "",
        "totalEq": text(total_usd),
        "uTime": str(ctx.now_ms()),
        "upl": "",
    }


def funding_balances_json(ctx: SimContext, currencies: list[str] | None) -> list[Json]:
    chosen = list(CURRENCIES) if currencies is None else [c for c in currencies if c in CURRENCIES]
    return [
        {"availBal": text(b), "bal": text(b), "ccy": c, "frozenBal": "0"}
        for c in chosen
        if (b := ctx.engine.balances(c).funding_balance) > 0 or currencies is not None
    ]


def account_config_json(ctx: SimContext) -> Json:
    return {
        "acctLv": str(ctx.engine.account_level),
        "acctStpMode": "cancel_maker",
        "autoLoan": False,
        "ctIsoMode": "automatic",
        "enableSpotBorrow": False,
        "greeksType": "PA",
        "ip": "127.0.0.1",
        "kycLv": "2",
        "label": "pegkeeper-sim",
        "level": "Lv1",
        "levelTmp": "",
        "liquidationGear": "-1",
        "mainUid": ctx.uid,
        "mgnIsoMode": "automatic",
        "opAuth": "0",
        "perm": "read_only,trade,withdraw",
        "posMode": ctx.engine.position_mode,
        "roleType": "0",
        "spotBorrowAutoRepay": False,
        "spotOffsetType": "",
        "spotRoleType": "0",
        "traderInsts": [],
        "type": "0",
        "uid": ctx.uid,
    }


def order_json(ctx: SimContext, order: SimOrder) -> Json:
    instrument = ctx.engine.instrument(order.instrument_id)
    last = order.fills[-1] if order.fills else None
    return {
        "accFillSz": text(order.filled_contracts),
        "algoClOrdId": "",
        "algoId": "",
        "attachAlgoClOrdId": "",
        "attachAlgoOrds": [],
        "avgPx": text(order.avg_price_usd),
        "cTime": str(order.created_ms),
        "cancelSource": "" if order.state is not OrderState.CANCELED else "1",
        "cancelSourceReason": order.cancel_reason,
        "category": "normal",
        "ccy": "",
        "clOrdId": order.client_order_id,
        "fee": text(-order.fees),
        "feeCcy": instrument.settle_currency,
        "fillPx": text(last.price_usd) if last else "",
        "fillSz": text(last.size_contracts) if last else "0",
        "fillTime": str(last.ts_ms) if last else "",
        "instId": order.instrument_id,
        "instType": inst_type(instrument),
        "isTpLimit": "false",
        "lever": text(ctx.engine.leverage(order.instrument_id)),
        "linkedAlgoOrd": {"algoId": ""},
        "ordId": order.venue_order_id,
        "ordType": order.order_type.value,
        "pnl": "0",
        "posSide": "net",
        "px": text(order.limit_price_usd),
        "pxType": "",
        "pxUsd": "",
        "pxVol": "",
        "quickMgnType": "",
        "rebate": "0",
        "rebateCcy": instrument.settle_currency,
        "reduceOnly": "true" if order.reduce_only else "false",
        "side": order.side.value,
        "slOrdPx": "",
        "slTriggerPx": "",
        "slTriggerPxType": "",
        "source": "",
        "state": ORDER_STATES[order.state],
        "stpId": "",
        "stpMode": "cancel_maker",
        "sz": text(order.size_contracts),
        "tag": "",
        "tdMode": "cross",
        "tgtCcy": "",
        "tpOrdPx": "",
        "tpTriggerPx": "",
        "tpTriggerPxType": "",
        "tradeId": last.fill_id if last else "",
        "uTime": str(order.updated_ms),
    }


def fill_json(ctx: SimContext, order: SimOrder, fill: Fill) -> Json:
    instrument = ctx.engine.instrument(order.instrument_id)
    maker = order.order_type is not OrderType.MARKET and fill.price_usd == order.limit_price_usd
    return {
        "billId": fill.fill_id,
        "clOrdId": order.client_order_id,
        "execType": "M" if maker else "T",
        "fee": text(-fill.fee),
        "feeCcy": fill.fee_currency,
        "feeRate": "",
        "fillIdxPx": text(fill.price_usd),
        "fillMarkPx": text(fill.price_usd),
        "fillMarkVol": "",
        "fillPnl": "0",
        "fillPx": text(fill.price_usd),
        "fillPxUsd": "",
        "fillPxVol": "",
        "fillSz": text(fill.size_contracts),
        "fillTime": str(fill.ts_ms),
        "instId": order.instrument_id,
        "instType": inst_type(instrument),
        "ordId": order.venue_order_id,
        "posSide": "net",
        "side": order.side.value,
        "subType": "1" if order.side.value == "buy" else "2",
        "tag": "",
        "tradeId": fill.fill_id,
        "ts": str(fill.ts_ms),
    }


def transfer_state_json(transfer: TransferResult) -> Json:
    return {
        "amt": text(transfer.amount_btc),
        "ccy": transfer.currency,
        "clientId": transfer.client_id,
        "from": ACCOUNT_IDS[transfer.from_account.value],
        "instId": "",
        "state": "success",
        "subAcct": "",
        "to": ACCOUNT_IDS[transfer.to_account.value],
        "toInstId": "",
        "transId": transfer.transfer_id,
        "type": "0",
    }


def funding_bill_json(bill_id: str, payment: FundingPayment) -> Json:
    """A bill of type 8 (funding fee): subType 174 income, 173 expense; `px` the mark."""
    amount = text(payment.amount_btc)
    return {
        "bal": "",
        "balChg": amount,
        "billId": bill_id,
        "ccy": payment.currency,
        "execType": "",
        "fee": "0",
        "instId": payment.instrument_id,
        "instType": "SWAP",
        "mgnMode": "cross",
        "notes": "",
        "ordId": "",
        "pnl": amount,
        "posBal": "",
        "posBalChg": "0",
        "px": text(payment.mark_price_usd),
        "subType": "174" if payment.amount_btc >= 0 else "173",
        "sz": text(abs(payment.size_contracts)),
        "ts": str(payment.ts_ms),
        "type": "8",
    }


def deposit_json(deposit: Deposit) -> Json:
    return {
        "actualDepBlkConfirm": "6" if deposit.state == "2" else "1",
        "amt": text(deposit.amount),
        "areaCodeFrom": "",
        "ccy": deposit.currency,
        "chain": deposit.chain,
        "depId": deposit.deposit_id,
        "from": "",
        "fromWdId": "",
        "state": deposit.state,
        "to": deposit.address,
        "ts": str(deposit.ts_ms),
        "txId": deposit.tx_id,
    }


def withdrawal_json(withdrawal: Withdrawal) -> Json:
    return {
        "amt": text(withdrawal.amount),
        "areaCodeFrom": "",
        "areaCodeTo": "",
        "ccy": withdrawal.currency,
        "chain": withdrawal.chain,
        "clientId": withdrawal.client_id,
        "fee": text(withdrawal.fee),
        "feeCcy": withdrawal.currency,
        "from": "",
        "memo": "",
        "nonTradableAsset": False,
        "pmtId": "",
        "state": withdrawal.state,
        "tag": "",
        "to": withdrawal.to_address,
        "toAddrType": "1",
        "ts": str(withdrawal.ts_ms),
        "txId": withdrawal.tx_id,
        "wdId": withdrawal.withdrawal_id,
    }


def _ratio(numerator: Decimal, denominator: Decimal) -> str:
    if denominator == 0:
        return ""
    return text((numerator / denominator).quantize(Decimal("0.0001")))


def _usd_price(ctx: SimContext, currency: str) -> Decimal:
    if currency != "BTC":
        return Decimal(1)
    for inst_id in ctx.engine.live_instrument_ids:
        price = ctx.engine.mark_price_usd(inst_id)
        if price is not None:
            return price
    return ZERO
